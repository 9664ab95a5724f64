"""OData v4 as Graph speaks it for directory objects: query options ($filter, $select, $top, $skiptoken,
$count, $orderby), alternate-key segments (`applications(appId='...')`) and reference URLs (`@odata.id`,
`@odata.bind`).

Graph's directory store answers a subset of OData, and real clients lean on that subset's rules: plain `eq`,
`startswith`, `in` and `any()` work everywhere; `ne`, `not`, `endswith` and `$count` are "advanced queries" that
need `ConsistencyLevel: eventual` (and `$count=true`) or fail with Request_UnsupportedQuery. The emulator keeps
those rules so a client that works here works against Entra.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from provision.emulator.directory import ALTERNATE_KEYS
from provision.emulator.services.graph.schema import (
    BOOL, COMPLEX, COMPLEXES, DATETIME, GUID, STRING, STRINGS, Entity, is_guid,
)
from provision.emulator.wire import GraphError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
MAX_FILTER_DEPTH = 50
ADVANCED_DOCS = "Refer to https://aka.ms/graph-docs/advanced-queries for more information"

SUPPORTED_OPTIONS = {"filter", "select", "top", "skiptoken", "count", "orderby"}
UNSUPPORTED_OPTIONS = {"expand", "search", "format", "apply", "compute", "levels", "deltatoken", "index", "id"}

Predicate = Callable[[dict[str, Any]], bool]


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(message, code=code, status=400)


# -- $filter ---------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w-])
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<name>[A-Za-z_$@][\w.$@]*)
    | (?P<punct>[(),/:])
    )""", re.VERBOSE)

_COMPARISONS = {"eq", "ne", "ge", "le", "gt", "lt"}
_ADVANCED = {"ne", "not", "endswith"}


@dataclass
class Token:
    kind: str  # string | number | guid | name | punct | end
    value: Any
    pos: int


def _tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise bad_request(f"Invalid filter clause: Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup
        raw = m.group(kind)
        value: Any = raw
        if kind == "string":
            value = raw[1:-1].replace("''", "'")
        tokens.append(Token(kind, value, m.start(kind)))
        pos = m.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


class FilterParser:
    """Recursive descent over Graph's $filter subset; builds a predicate on stored documents."""

    def __init__(self, text: str, entity: Entity, *, advanced: bool):
        self.text = text
        self.entity = entity
        self.advanced = advanced
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    # token helpers
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.value.lower() == word

    def expect_punct(self, char: str) -> None:
        tok = self.take()
        if tok.kind != "punct" or tok.value != char:
            self.syntax_error(tok)

    def syntax_error(self, tok: Token) -> None:
        raise bad_request(f"Invalid filter clause: Syntax error at position {tok.pos} in '{self.text}'.")

    def nest(self) -> None:
        """Bound the recursion (a hostile filter must be a 400, not a stack overflow); real filters stay far below."""
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise bad_request(f"Invalid filter clause: the expression is nested more than {MAX_FILTER_DEPTH} levels "
                              f"deep.")

    def need_advanced(self, operator: str) -> None:
        if not self.advanced:
            raise bad_request(f"Operator '{operator}' is not supported because the 'ConsistencyLevel:eventual' "
                              f"header is missing. {ADVANCED_DOCS}", code="Request_UnsupportedQuery")

    # grammar
    def parse(self) -> Predicate:
        pred = self.parse_or()
        if self.peek().kind != "end":
            self.syntax_error(self.peek())
        return pred

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_unary()]
        while self.is_word("and"):
            self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def parse_unary(self) -> Predicate:
        if self.is_word("not"):
            self.take()
            self.need_advanced("not")
            self.nest()
            inner = self.parse_unary()
            self.depth -= 1
            return lambda doc: not inner(doc)
        tok = self.peek()
        if tok.kind == "punct" and tok.value == "(":
            self.take()
            self.nest()
            inner = self.parse_or()
            self.expect_punct(")")
            self.depth -= 1
            return inner
        return self.parse_primary(variable=None)

    def parse_primary(self, variable: str | None) -> Predicate:
        tok = self.take()
        if tok.kind != "name":
            self.syntax_error(tok)
        if self.peek().kind == "punct" and self.peek().value == "(":  # a function call
            return self.parse_function(tok, variable)
        name = tok.value
        if variable is not None and name == variable:  # `c` inside any(c: c eq 'x')
            return self.parse_comparison(lambda value: value, STRING, name)
        prop_type = self.property_type(name)
        if self.peek().kind == "punct" and self.peek().value == "/":
            return self.parse_lambda(name, prop_type)
        return self.parse_comparison(lambda doc: doc.get(name), prop_type, name)

    def parse_function(self, tok: Token, variable: str | None) -> Predicate:
        fn = tok.value.lower()
        if fn not in ("startswith", "endswith"):
            raise bad_request(f"Invalid filter clause: An unknown function with name '{tok.value}' was found. "
                              f"This may also be a function import or a key lookup on a navigation property, "
                              f"which is not allowed.")
        if fn == "endswith":
            self.need_advanced("endsWith")
        self.expect_punct("(")
        arg = self.take()
        if arg.kind != "name":
            self.syntax_error(arg)
        if variable is not None and arg.value == variable:
            getter: Callable[[Any], Any] = lambda value: value
        else:
            prop_type = self.property_type(arg.value)
            if prop_type != STRING:
                raise bad_request(f"Invalid filter clause: No function signature for the function with name "
                                  f"'{tok.value}' matches the specified arguments.")
            getter = lambda doc, n=arg.value: doc.get(n)
        self.expect_punct(",")
        lit = self.take()
        if lit.kind != "string":
            self.syntax_error(lit)
        self.expect_punct(")")
        prefix = lit.value.casefold()
        if fn == "startswith":
            return lambda item: isinstance(getter(item), str) and getter(item).casefold().startswith(prefix)
        return lambda item: isinstance(getter(item), str) and getter(item).casefold().endswith(prefix)

    def parse_lambda(self, name: str, prop_type: str) -> Predicate:
        """`prop/any(x: x eq 'v')` over a string collection (identifierUris, servicePrincipalNames, tags)."""
        self.expect_punct("/")
        op = self.take()
        if op.kind != "name" or op.value.lower() not in ("any", "all"):
            self.syntax_error(op)
        if prop_type != STRINGS:
            raise bad_request(f"Invalid filter clause: The '{op.value}' operator is only supported on collections; "
                              f"'{name}' is not a collection.")
        self.expect_punct("(")
        var = self.take()
        if var.kind != "name":
            self.syntax_error(var)
        self.expect_punct(":")
        inner = self.parse_primary(variable=var.value)
        self.expect_punct(")")
        quantifier = any if op.value.lower() == "any" else all
        return lambda doc: quantifier(inner(v) for v in (doc.get(name) or []))

    def parse_comparison(self, getter: Callable[[Any], Any], prop_type: str, name: str) -> Predicate:
        op_tok = self.take()
        op = op_tok.value.lower() if op_tok.kind == "name" else ""
        if op == "in":
            values = self.parse_literal_list(prop_type)
            return lambda item: _normalize(getter(item)) in values
        if op not in _COMPARISONS:
            self.syntax_error(op_tok)
        if op == "ne":
            self.need_advanced("ne")
        if prop_type in (STRINGS, COMPLEX, COMPLEXES):
            raise bad_request(f"Invalid filter clause: The property '{name}' is a collection or complex value "
                              f"and cannot be compared with '{op}'; use any().")
        literal = self.parse_literal(prop_type, op)
        want = _normalize(literal)

        def compare(item: Any) -> bool:
            have = _normalize(getter(item))
            if op == "eq":
                return have == want
            if op == "ne":
                return have != want
            if have is None or want is None:
                return False
            return {"ge": have >= want, "le": have <= want, "gt": have > want, "lt": have < want}[op]
        return compare

    def parse_literal_list(self, prop_type: str) -> set[Any]:
        self.expect_punct("(")
        values = {_normalize(self.parse_literal(prop_type, "in"))}
        while self.peek().kind == "punct" and self.peek().value == ",":
            self.take()
            values.add(_normalize(self.parse_literal(prop_type, "in")))
        self.expect_punct(")")
        return values

    def parse_literal(self, prop_type: str, op: str) -> Any:
        tok = self.take()
        if tok.kind == "name" and tok.value.lower() in ("true", "false", "null"):
            literal_type, value = (None, None) if tok.value.lower() == "null" else \
                (BOOL, tok.value.lower() == "true")
        elif tok.kind == "string":
            literal_type, value = STRING, tok.value
        elif tok.kind == "guid":
            literal_type, value = GUID, tok.value
        elif tok.kind == "number":
            literal_type, value = "Edm.Int32", tok.value
        else:
            self.syntax_error(tok)
        if literal_type is not None and not _compatible(prop_type, literal_type):
            kind = {"eq": "Equal", "ne": "NotEqual", "ge": "GreaterThanOrEqual", "le": "LessThanOrEqual",
                    "gt": "GreaterThan", "lt": "LessThan", "in": "In"}[op]
            raise bad_request(f"A binary operator with incompatible types was detected. Found operand types "
                              f"'{prop_type}' and '{literal_type}' for operator kind '{kind}'.")
        return value

    def property_type(self, name: str) -> str:
        prop = self.entity.props.get(name)
        if prop is None:
            raise bad_request(f"Could not find a property named '{name}' on type '{self.entity.type_name}'.")
        return prop.type


def _compatible(prop_type: str, literal_type: str) -> bool:
    if prop_type in (STRING, DATETIME, STRINGS):
        return literal_type == STRING
    if prop_type == GUID:
        return literal_type in (GUID, STRING)
    return prop_type == literal_type


def _normalize(value: Any) -> Any:
    """Directory string comparisons ignore case."""
    return value.casefold() if isinstance(value, str) else value


# -- the query options of one request --------------------------------------------------------------------------

@dataclass
class Query:
    filter: Predicate | None = None
    select: list[str] = field(default_factory=list)
    top: int | None = None
    offset: int = 0
    count: bool = False
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    raw: dict[str, str] = field(default_factory=dict)  # the options as sent, by canonical name
    # A $filter that is only `p eq 'v'` or `p in ('v', …)` on an alternate key the directory indexes: (p, values).
    # The documents are then fetched through the index; `filter` still decides, so this only narrows.
    lookup: tuple[str, list[str]] | None = None


def _index_lookup(tokens: list[Token]) -> tuple[str, list[str]] | None:
    """(property, values) when a parsed filter is one `eq`/`in` comparison on an indexed key. ASCII values only:
    the index folds case with SQLite's lower(), the directory with casefold()."""
    if len(tokens) < 4 or tokens[0].kind != "name" or tokens[0].value not in ALTERNATE_KEYS:
        return None
    if tokens[1].kind != "name" or tokens[1].value.lower() not in ("eq", "in"):
        return None
    rest = tokens[2:-1]
    if any(t.kind not in ("string", "punct") for t in rest):
        return None
    values = [t.value for t in rest if t.kind == "string"]
    if not values or not all(v.isascii() for v in values):
        return None
    return tokens[0].value, values


def parse_query(params: Mapping[str, str], headers: Mapping[str, str], entity: Entity | None, *,
                collection: bool) -> Query:
    """Read Graph query options from decoded query parameters. Names may come with or without `$`."""
    raw: dict[str, str] = {}
    for key, value in params.items():
        name = key[1:].lower() if key.startswith("$") else key.lower()
        if name in SUPPORTED_OPTIONS or name in UNSUPPORTED_OPTIONS or name == "skip":
            raw[name] = value
        elif key.startswith("$"):
            raise bad_request(f"The query parameter '{key}' is not supported.")
    if "skip" in raw:
        raise bad_request("'$skip' is not supported by the service.", code="Request_BadRequest")
    for name in raw:
        if name in UNSUPPORTED_OPTIONS:
            raise bad_request(f"The emulator does not support the query option '${name}'.")
    eventual = headers.get("consistencylevel", "").strip().lower() == "eventual"
    q = Query(raw=raw)
    if "select" in raw and entity is not None:
        q.select = _parse_select(raw["select"], entity)
    if not collection:
        return q  # Graph ignores collection options on a single entity
    if "count" in raw:
        q.count = _parse_bool("$count", raw["count"])
        if q.count and not eventual:
            raise bad_request("$count is not currently supported.", code="Request_BadRequest")
    if "filter" in raw and entity is not None:
        parser = FilterParser(raw["filter"], entity, advanced=eventual and q.count)
        q.filter = parser.parse()
        q.lookup = _index_lookup(parser.tokens)
    if "top" in raw:
        q.top = _parse_top(raw["top"])
    if "skiptoken" in raw:
        q.offset = decode_skiptoken(raw["skiptoken"])
    if "orderby" in raw and entity is not None:
        q.orderby = _parse_orderby(raw["orderby"], entity)
    return q


def _parse_bool(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise bad_request(f"Invalid value '{value}' for query option '{name}'; expected true or false.")
    return value.lower() == "true"


def _parse_top(value: str) -> int:
    try:
        top = int(value)
    except ValueError:
        raise bad_request(f"Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE_SIZE} "
                          f"inclusive.", code="Request_BadRequest") from None
    if not 1 <= top <= MAX_PAGE_SIZE:
        raise bad_request(f"Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE_SIZE} "
                          f"inclusive.", code="Request_BadRequest")
    return top


def _parse_select(value: str, entity: Entity) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    for n in names:
        if n != "*" and not entity.has(n):
            raise bad_request(f"Parsing OData Select and Expand failed: Could not find a property named '{n}' on "
                              f"type '{entity.type_name}'.")
    return [] if "*" in names else names


def _parse_orderby(value: str, entity: Entity) -> list[tuple[str, bool]]:
    out = []
    for part in value.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise bad_request(f"Invalid $orderby clause '{value}'.")
        if not entity.has(words[0]):
            raise bad_request(f"Could not find a property named '{words[0]}' on type '{entity.type_name}'.")
        out.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return out


def encode_skiptoken(offset: int) -> str:
    """Opaque to clients, as Graph's are; the emulator's carries the offset of the next page."""
    return base64.urlsafe_b64encode(f"emulator:{offset}".encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "emulator":
            raise ValueError(text)
        return max(0, int(number))
    except ValueError:
        raise bad_request("The specified page token value has expired or is invalid.",
                          code="Request_BadRequest") from None


def apply(query: Query, docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int | None]:
    """Filter, order and page. Returns (page, total matching, offset of the next page or None)."""
    if query.filter is not None:
        docs = [doc for doc in docs if query.filter(doc)]
    for name, desc in reversed(query.orderby):  # stable sorts, last key first
        docs = sorted(docs, key=lambda doc: _sort_key(doc.get(name)), reverse=desc)
    size = query.top or DEFAULT_PAGE_SIZE
    page = docs[query.offset: query.offset + size]
    following = query.offset + size if query.offset + size < len(docs) else None
    return page, len(docs), following


def _sort_key(value: Any) -> tuple:
    # nulls first, then values compared case-insensitively like the directory does
    return (value is not None, _normalize(value) if isinstance(value, (str, bool, int, float)) else str(value))


# -- key segments and references -------------------------------------------------------------------------------

_KEY = re.compile(r"^\s*(?P<name>[A-Za-z]+)\s*=\s*'(?P<value>(?:[^']|'')*)'\s*$")


def parse_key(text: str, entity: Entity) -> tuple[str, str]:
    """`appId='1234'` → ("appId", "1234"), for the alternate keys the entity type declares."""
    m = _KEY.match(text)
    if m is None or m.group("name") not in entity.alternate_keys:
        raise bad_request(f"Resource not found for the segment '{entity.collection}'.")
    return m.group("name"), m.group("value").replace("''", "'")


# Collections a reference URL may name, and the directory kinds each one can hold.
REFERENCE_SEGMENTS = {
    "directoryobjects": None,  # any kind
    "users": "user", "groups": "group", "serviceprincipals": "servicePrincipal",
    "applications": "application", "devices": "device", "contacts": "orgContact",
}


def parse_reference(url: str) -> tuple[str | None, str] | None:
    """`https://graph.microsoft.com/v1.0/directoryObjects/{id}` (any host, or relative) → (kind or None, id).

    Graph accepts references to its public host from any client; the emulator also accepts its own address."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return None
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("v1.0", "beta"):
        parts = parts[1:]
    if len(parts) != 2 or parts[0].lower() not in REFERENCE_SEGMENTS or not is_guid(parts[1]):
        return None
    return REFERENCE_SEGMENTS[parts[0].lower()], parts[1]
