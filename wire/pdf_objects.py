"""A small reader of a PDF's objects, for ``konbini-verify``'s fast path: a certificate's pages, their
resources and their streams, without importing pypdf (~80 ms, half a command's run).

It reads what reportlab writes, and only that shape of file: a classic cross-reference table (with the
``/Prev`` sections of incremental updates), objects in the clear, streams without a filter or with a
plain ``/FlateDecode``. Anything else (a cross-reference stream, objects in object streams, an
encrypted file, another filter, an offset that does not point at its object) raises :class:`Unsupported`,
and the caller reads the file with pypdf instead. Objects mimic what the verifier uses of pypdf's:
dictionaries keyed by names with their slash (``"/Width"``), whose ``get`` and ``[]`` resolve indirect
references; ``get_object()``; a stream's ``get_data()``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

MAX_DEPTH: Final = 32  # nesting of arrays and dictionaries
_WS: Final = rb"\x00\t\n\f\r "
_DELIM: Final = rb"()<>\[\]{}/%"
_TOKEN: Final = re.compile(
    rb"(?:[" + _WS + rb"]|%[^\r\n]*+)*+"  # whitespace and comments
    rb"(?:(<<|>>|\[|\])|(/[^" + _WS + _DELIM + rb"]*)|(<[0-9A-Fa-f" + _WS + rb"]*>)|(\()"
    rb"|([+-]?(?:\d+\.?\d*|\.\d+))|([A-Za-z]+))"
)
_REF: Final = re.compile(rb"[" + _WS + rb"]+(\d+)[" + _WS + rb"]+R(?![^" + _WS + _DELIM + rb"])")
_OBJ: Final = re.compile(rb"[" + _WS + rb"]*(\d+)[" + _WS + rb"]+(\d+)[" + _WS + rb"]+obj")
_STREAM: Final = re.compile(rb"[" + _WS + rb"]*stream\r?\n")
_XREF_ENTRY: Final = re.compile(rb"(\d{10})[ ](\d{5})[ ]([nf])")
_SUBSECTION: Final = re.compile(rb"[" + _WS + rb"]*(\d+)[ ]+(\d+)[" + _WS + rb"]+")


class Unsupported(Exception):
    """This file is not of the shape this reader knows: read it with pypdf."""


class Ref:
    """An indirect reference ``n 0 R``."""

    __slots__ = ("doc", "number")

    def __init__(self, doc: PdfObjects, number: int) -> None:
        self.doc = doc
        self.number = number

    def get_object(self) -> Any:
        return self.doc.object(self.number)


class PdfDict(dict[str, Any]):
    """A dictionary whose values are resolved when read (as pypdf's ``[]`` is)."""

    def __getitem__(self, key: str) -> Any:
        return _resolved(super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        return _resolved(super().get(key, default))

    def get_object(self) -> PdfDict:
        return self


class PdfStream(PdfDict):
    """A stream: its dictionary, and its bytes as stored in the file."""

    raw: bytes = b""

    def get_data(self) -> bytes:
        """The bytes decoded: as stored, or inflated for a single ``/FlateDecode`` without parameters."""
        filters = self.get("/Filter")
        filters = filters if isinstance(filters, list) else [] if filters is None else [filters]
        if not filters:
            return self.raw
        if [_resolved(f) for f in filters] != ["/FlateDecode"] or self.get("/DecodeParms") is not None:
            raise Unsupported("a filter other than a plain /FlateDecode")
        try:
            return zlib.decompress(self.raw)
        except zlib.error as exc:
            raise Unsupported("a stream that does not inflate") from exc


def _resolved(value: Any) -> Any:
    return value.get_object() if isinstance(value, Ref) else value


class PdfObjects:
    """The objects of one PDF file held in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offsets: dict[int, int] = {}
        self.trailer = PdfDict()
        self._cache: dict[int, Any] = {}
        self._read_xref()

    @classmethod
    def open(cls, path: Path) -> PdfObjects:
        return cls(Path(path).read_bytes())

    # cross-reference table

    def _read_xref(self) -> None:
        tail = self.data[-1024:]
        at = tail.rfind(b"startxref")
        match = re.match(rb"startxref[" + _WS + rb"]+(\d+)", tail[at:]) if at >= 0 else None
        if match is None:
            raise Unsupported("no startxref")
        offset: int | None = int(match.group(1))
        seen: set[int] = set()
        while offset is not None:
            if offset in seen or len(seen) > 64:
                raise Unsupported("a loop of /Prev sections")
            seen.add(offset)
            trailer = self._read_section(offset)
            for key, value in trailer.items():
                self.trailer.setdefault(key, value)  # the newest section's entries win
            prev = trailer.get("/Prev")
            offset = prev if isinstance(prev, int) else None
        if "/Encrypt" in self.trailer or "/Root" not in self.trailer:
            raise Unsupported("encrypted, or no /Root")

    def _read_section(self, offset: int) -> PdfDict:
        if self.data[offset : offset + 4] != b"xref":
            raise Unsupported("not a classic cross-reference table (a stream?)")
        pos = offset + 4
        while True:
            sub = _SUBSECTION.match(self.data, pos)
            if sub is None:
                break
            first, count = int(sub.group(1)), int(sub.group(2))
            pos = sub.end()
            for number in range(first, first + count):
                entry = _XREF_ENTRY.match(self.data, pos)
                if entry is None:
                    raise Unsupported("a malformed cross-reference entry")
                pos = entry.end()
                while pos < len(self.data) and self.data[pos] in b"\r\n ":
                    pos += 1
                if entry.group(3) == b"n":
                    self.offsets.setdefault(number, int(entry.group(1)))  # newer sections come first
        keyword = _TOKEN.match(self.data, pos)
        if keyword is None or keyword.group(6) != b"trailer":
            raise Unsupported("no trailer")
        trailer, _ = self._parse(keyword.end(), 0)
        if not isinstance(trailer, PdfDict) or "/XRefStm" in trailer:
            raise Unsupported("a hybrid cross-reference file")
        return trailer

    # objects

    def object(self, number: int) -> Any:
        """Object ``number`` (its newest version); ``None`` for a free or missing one, as PDF says."""
        if number not in self._cache:
            offset = self.offsets.get(number)
            self._cache[number] = None if offset is None else self._read_object(number, offset)
        return self._cache[number]

    def _read_object(self, number: int, offset: int) -> Any:
        header = _OBJ.match(self.data, offset)
        if header is None or int(header.group(1)) != number:
            raise Unsupported(f"object {number} is not at its offset")
        value, pos = self._parse(header.end(), 0)
        stream = _STREAM.match(self.data, pos) if isinstance(value, PdfDict) else None
        if stream is None:
            return value
        length = value.get("/Length")
        end = stream.end() + length if isinstance(length, int) else -1
        if not 0 <= end <= len(self.data) or not re.match(
            rb"[" + _WS + rb"]*endstream", self.data[end : end + 32]
        ):
            raise Unsupported(f"object {number}: a stream whose /Length is wrong")
        result = PdfStream(value)
        result.raw = self.data[stream.end() : end]
        return result

    def _parse(self, pos: int, depth: int) -> tuple[Any, int]:
        """The object starting at ``pos`` (after whitespace and comments), and the position after it."""
        if depth > MAX_DEPTH:
            raise Unsupported("objects nested too deep")
        token = _TOKEN.match(self.data, pos)
        if token is None:
            raise Unsupported(f"no object at {pos}")
        end = token.end()
        delimiter, name, hex_string, paren, number, keyword = token.groups()
        if name is not None:
            return _name(name), end
        if number is not None:
            if b"." not in number:
                ref = _REF.match(self.data, end)
                if ref is not None:
                    return Ref(self, int(number)), ref.end()
                return int(number), end
            return float(number), end
        if delimiter == b"<<":
            result = PdfDict()
            while True:
                close = _TOKEN.match(self.data, end)
                if close is not None and close.group(1) == b">>":
                    return result, close.end()
                key, end = self._parse(end, depth + 1)
                if not isinstance(key, str):
                    raise Unsupported("a dictionary key that is not a name")
                result[key], end = self._parse(end, depth + 1)
        if delimiter == b"[":
            items: list[Any] = []
            while True:
                close = _TOKEN.match(self.data, end)
                if close is not None and close.group(1) == b"]":
                    return items, close.end()
                item, end = self._parse(end, depth + 1)
                items.append(item)
        if hex_string is not None:
            digits = re.sub(rb"[" + _WS + rb">]", b"", hex_string[1:]).decode("ascii")
            return bytes.fromhex(digits + "0" * (len(digits) % 2)), end
        if paren is not None:
            return self._literal_string(end)
        if keyword in (b"true", b"false"):
            return keyword == b"true", end
        if keyword == b"null":
            return None, end
        raise Unsupported(f"unexpected {token.group(0)[-16:]!r} at {pos}")

    def _literal_string(self, pos: int) -> tuple[bytes, int]:
        """A ``(...)`` string from after its opening parenthesis: its raw bytes (escapes kept), the end."""
        depth, start = 1, pos
        while pos < len(self.data):
            ch = self.data[pos]
            if ch == 0x5C:  # backslash: the next byte is escaped
                pos += 2
                continue
            depth += (ch == 0x28) - (ch == 0x29)
            pos += 1
            if depth == 0:
                return self.data[start : pos - 1], pos
        raise Unsupported("an unterminated string")

    # pages

    def pages(self, limit: int) -> Iterator[PdfDict]:
        """The first ``limit`` pages in order, each with the ``/Resources`` it inherits filled in."""
        root = self.trailer["/Root"]
        tree = root.get("/Pages") if isinstance(root, PdfDict) else None
        if not isinstance(tree, PdfDict):
            raise Unsupported("no page tree")
        count = 0
        stack: list[tuple[PdfDict, Any]] = [(tree, None)]
        seen: set[int] = set()
        while stack and count < limit:
            node, inherited = stack.pop()
            if id(node) in seen:
                raise Unsupported("a loop in the page tree")
            seen.add(id(node))
            resources = node.get("/Resources", inherited)
            kids = node.get("/Kids")
            if kids is None:
                page = PdfDict(node)
                if resources is not None:
                    page["/Resources"] = resources
                count += 1
                yield page
            elif isinstance(kids, list):
                for kid in reversed(kids):
                    kid = _resolved(kid)
                    if not isinstance(kid, PdfDict):
                        raise Unsupported("a page that is not a dictionary")
                    stack.append((kid, resources))
            else:
                raise Unsupported("a /Kids that is not an array")

    @staticmethod
    def contents(page: PdfDict) -> bytes:
        """The page's content streams decoded and joined (``b""`` when it has none)."""
        contents = page.get("/Contents")
        parts = contents if isinstance(contents, list) else [] if contents is None else [contents]
        data = b""
        for part in parts:
            stream = _resolved(part)
            if not isinstance(stream, PdfStream):
                raise Unsupported("page contents that are not a stream")
            data += stream.get_data()
            if not data.endswith(b"\n"):
                data += b"\n"
        return data


def _name(token: bytes) -> str:
    """A name token (``/Name``, ``#xx`` escapes decoded) as the string pypdf would give: ``"/Name"``."""
    if b"#" in token:
        token = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), token)
    return token.decode("latin-1")
