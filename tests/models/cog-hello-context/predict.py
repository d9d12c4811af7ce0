from cog import current_scope


def run() -> dict[str, dict[str, str]]:
    return {"context": current_scope().context}
