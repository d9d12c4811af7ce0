from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, text: str = Input(description="Text to echo")) -> str:
        print(f"echoing {len(text)} characters")
        return text
