__version__ = "0.1.0"


def __getattr__(name):
    "`nsnet_study.detect(...)`, `.evaluate(...)` and `.explain(...)` without importing torch at `import nsnet_study`."
    if name == "detect":
        from nsnet_study.scoring import detect
        return detect
    if name == "evaluate":
        from nsnet_study.scoring import evaluate_model
        return evaluate_model
    if name == "explain":
        from nsnet_study.explanations import explain
        return explain
    raise AttributeError(f"module 'nsnet_study' has no attribute {name!r}")
