# json, as custom code uses it: loads/dumps (and load/dump on file-like objects). Parsing
# is done in Rust; dumps writes what CPython's does for the same arguments (separators
# ", " and ": ", ensure_ascii, indent, sort_keys).
import _wasmhook


class JSONDecodeError(ValueError):
    pass


def loads(s, **kwargs):
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    try:
        return _wasmhook.loads(s)
    except ValueError as e:
        raise JSONDecodeError(str(e))


def load(fp, **kwargs):
    return loads(fp.read(), **kwargs)


def dump(obj, fp, **kwargs):
    fp.write(dumps(obj, **kwargs))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _string(s, ascii_only):
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
            continue
        code = ord(ch)
        if code < 0x20 or (ascii_only and code > 0x7E):
            if code > 0xFFFF:
                code -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
            else:
                out.append("\\u%04x" % code)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key(k):
    if isinstance(k, str):
        return k
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, (int, float)):
        return repr(k)
    raise TypeError("keys must be str, int, float, bool or None, not %s" % type(k).__name__)


def dumps(obj, *, indent=None, sort_keys=False, separators=None, ensure_ascii=True, default=None, **kwargs):
    if isinstance(indent, int):
        indent = " " * indent
    if separators is None:
        separators = (",", ": ") if indent is not None else (", ", ": ")
    item_sep, key_sep = separators

    def enc(o, depth):
        if o is None:
            return "null"
        if o is True:
            return "true"
        if o is False:
            return "false"
        if isinstance(o, str):
            return _string(o, ensure_ascii)
        if isinstance(o, int):
            return str(o)
        if isinstance(o, float):
            if o != o:
                return "NaN"
            if o in (float("inf"), float("-inf")):
                return "Infinity" if o > 0 else "-Infinity"
            return repr(o)
        if isinstance(o, dict):
            items = [(_key(k), v) for k, v in o.items()]
            if sort_keys:
                items.sort(key=lambda kv: kv[0])
            parts = [_string(k, ensure_ascii) + key_sep + enc(v, depth + 1) for k, v in items]
            return wrap("{", "}", parts, depth)
        if isinstance(o, (list, tuple)):
            return wrap("[", "]", [enc(v, depth + 1) for v in o], depth)
        if default is not None:
            return enc(default(o), depth)
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    def wrap(open_, close, parts, depth):
        if not parts:
            return open_ + close
        if indent is None:
            return open_ + item_sep.join(parts) + close
        inner = "\n" + indent * (depth + 1)
        return open_ + inner + (item_sep + inner).join(parts) + "\n" + indent * depth + close

    return enc(obj, 0)
