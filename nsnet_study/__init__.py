__version__ = "0.1.0"


def __getattr__(name):
    "`nsnet_study.detect(...)` and `nsnet_study.explain(...)` without importing torch at `import nsnet_study`."
    if name in ("detect", "explain"):
        from nsnet_study import scoring
        return getattr(scoring, name)
    raise AttributeError(f"module 'nsnet_study' has no attribute {name!r}")
