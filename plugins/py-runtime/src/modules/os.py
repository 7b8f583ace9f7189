# os, as custom code uses it: the step's secrets in `environ` and through `getenv`.
environ = {}


def getenv(key, default=None):
    return environ.get(key, default)
