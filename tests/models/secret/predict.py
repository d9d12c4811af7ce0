import hashlib

from cog import BaseRunner, Input, Secret


class Runner(BaseRunner):
    def run(
        self,
        api_key: Secret = Input(description="A credential the model must not leak"),
        prompt: str = Input(default="hello"),
    ) -> str:
        value = api_key.get_secret_value() or ""
        print(f"got a secret of {len(value)} characters for {prompt}")
        return hashlib.sha256(value.encode()).hexdigest()
