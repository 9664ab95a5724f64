"""A tiny evaluator for exactly the ARM template expression forms provision/template.py emits.

It knows only the functions in FUNCTIONS; test_export checks that every expression in every exported template uses
nothing else, so a new expression form in the template needs a matching (tested) entry here. Semantics follow the
ARM template function reference; the one stand-in is uniqueString, whose hash ARM does not publish: here it is a
deterministic 13-character lowercase string, enough to check the names built from it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<int>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[(),.\[\]]))")


def is_expression(value: Any) -> bool:
    # "[[...]" is ARM's escape for a literal string that starts with "["
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


# -- parsing: expression := primary ( "." name | "[" expression "]" )* ; primary := string | int | call ------------
def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"cannot parse {text[pos:]!r} in {text!r}")
        kind = m.lastgroup
        raw = m.group(kind)
        value = raw[1:-1].replace("''", "'") if kind == "str" else int(raw) if kind == "int" else raw
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, op: str | None = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (op is not None and tok != ("op", op)):
            raise SyntaxError(f"expected {op or 'a token'} at token {self.i} of {self.text!r}")
        self.i += 1
        return tok

    def expression(self) -> tuple:
        kind, value = self.take()
        if kind == "str":
            node: tuple = ("lit", value)
        elif kind == "int":
            node = ("lit", value)
        elif kind == "name":
            self.take("(")
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.expression())
                if self.peek() == ("op", ","):
                    self.take(",")
            self.take(")")
            node = ("call", value, args)
        else:
            raise SyntaxError(f"unexpected {value!r} in {self.text!r}")
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise SyntaxError(f"expected a property name in {self.text!r}")
                node = ("prop", node, name)
            else:
                node = ("index", node, self.expression())
                self.take("]")
        return node


def parse(expression: str) -> tuple:
    p = _Parser(expression[1:-1])
    node = p.expression()
    if p.peek() is not None:
        raise SyntaxError(f"trailing tokens in {expression!r}")
    return node


def functions_in(node: tuple) -> set[str]:
    if node[0] == "call":
        return {node[1]}.union(*(functions_in(a) for a in node[2]))
    if node[0] == "prop":
        return functions_in(node[1])
    if node[0] == "index":
        return functions_in(node[1]) | functions_in(node[2])
    return set()


def expressions(document: Any) -> list[str]:
    """Every expression string anywhere in a JSON document."""
    if isinstance(document, dict):
        return [e for k, v in document.items() for e in expressions(k) + expressions(v)]
    if isinstance(document, list):
        return [e for v in document for e in expressions(v)]
    return [document] if is_expression(document) else []


# -- evaluation ---------------------------------------------------------------------------------------------------
def _unavailable(what: str) -> Callable[..., Any]:
    def fail(*_: Any) -> Any:
        raise AssertionError(f"{what} was called but this scope provides none")

    return fail


@dataclass
class Scope:
    """What a deployment knows: parameter values, where it deploys, and the runtime lookups."""

    parameters: dict[str, Any]
    subscription_id: str
    resource_group: str
    storage_suffix: str = "core.windows.net"
    list_keys: Callable[[str, str], Any] = field(default_factory=lambda: _unavailable("listKeys"))
    reference: Callable[[str, str], Any] = field(default_factory=lambda: _unavailable("reference"))
    lambdas: dict[str, Any] = field(default_factory=dict)


def _resource_id(scope: Scope, *args: str) -> str:
    # resourceId([subscriptionId], [resourceGroupName], resourceType, name1, name2, ...): the type has a "/"
    at = next(i for i, a in enumerate(args) if "/" in a)
    prefix, rtype, names = args[:at], args[at], args[at + 1:]
    sub, rg = {0: (scope.subscription_id, scope.resource_group), 1: (scope.subscription_id, *prefix),
               2: tuple(prefix)}[len(prefix)]
    namespace, *types = rtype.split("/")
    assert len(types) == len(names), f"resourceId: {rtype} needs {len(types)} names, got {names}"
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names))
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{path}"


def _unique_string(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:13]


def _union(a: Any, b: Any) -> Any:
    # Objects merge recursively (later wins); arrays are not merged element-wise but appended without duplicates.
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _union(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + [x for x in b if x not in a]
    raise TypeError("union of an object and an array")


def _concat(*args: Any) -> Any:
    if all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    return "".join(str(a) for a in args)


# name → (scope, evaluated args) → value; "lambda" is the one special form (its body is evaluated per item)
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "parameters": lambda s, name: s.parameters[name],
    "concat": lambda s, *a: _concat(*a),
    "resourceId": _resource_id,
    "resourceGroup": lambda s: {"id": f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}",
                                "name": s.resource_group},
    "uniqueString": lambda s, *a: _unique_string(*a),
    "take": lambda s, value, n: value[:n],
    "toLower": lambda s, value: value.lower(),
    "environment": lambda s: {"suffixes": {"storage": s.storage_suffix}},
    "listKeys": lambda s, rid, api: s.list_keys(rid, api),
    "reference": lambda s, rid, api: s.reference(rid, api),
    "union": lambda s, a, b: _union(a, b),
    "first": lambda s, items: items[0] if items else None,
    "filter": lambda s, items, fn: [x for x in items if fn(x)],
    "equals": lambda s, a, b: a == b,
    "lambdaVariables": lambda s, name: s.lambdas[name],
    "lambda": None,  # special form, see _eval
}


def _eval(node: tuple, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "prop":
        obj = _eval(node[1], scope)
        # ARM property access is case-insensitive
        return next(v for k, v in obj.items() if k.lower() == node[2].lower())
    if kind == "index":
        return _eval(node[1], scope)[_eval(node[2], scope)]
    name, args = node[1], node[2]
    if name not in FUNCTIONS:
        raise NotImplementedError(f"{name}() is not an expression form the template emits")
    if name == "lambda":
        var, body = _eval(args[0], scope), args[1]
        return lambda item: _eval(body, replace(scope, lambdas={**scope.lambdas, var: item}))
    return FUNCTIONS[name](scope, *(_eval(a, scope) for a in args))


def evaluate(value: Any, scope: Scope) -> Any:
    """A JSON value with every expression in it replaced by its result."""
    if isinstance(value, dict):
        return {evaluate(k, scope): evaluate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if is_expression(value):
        return _eval(parse(value), scope)
    if isinstance(value, str) and value.startswith("[["):
        return value[1:]
    return value


def bind_parameters(declared: dict[str, Any], supplied: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """Parameter values as ARM binds them: supplied ones, else defaults evaluated in declaration order (a default
    may use earlier parameters); a parameter with neither is an error."""
    bound: dict[str, Any] = {}
    for name, decl in declared.items():
        if name in supplied:
            bound[name] = supplied[name]
        elif "defaultValue" in decl:
            bound[name] = evaluate(decl["defaultValue"], replace(scope, parameters=bound))
        else:
            raise KeyError(f"parameter {name} has no value and no default")
        for rule, check in (("minLength", lambda v, n: len(v) >= n), ("maxLength", lambda v, n: len(v) <= n),
                            ("allowedValues", lambda v, allowed: v in allowed)):
            if rule in decl and not check(bound[name], decl[rule]):
                raise ValueError(f"parameter {name}={bound[name]!r} breaks {rule} {decl[rule]!r}")
    unknown = set(supplied) - set(declared)
    if unknown:
        raise KeyError(f"supplied parameters the template does not declare: {sorted(unknown)}")
    return bound
