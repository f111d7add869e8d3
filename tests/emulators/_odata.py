"""Graph's request-side rules: errors, strict body parsing with the SDK's own models, and the
small `$filter` dialect directory objects support."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kiota_abstractions.serialization import Parsable, ParsableFactory
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from kiota_serialization_json.json_serialization_writer_factory import (
    JsonSerializationWriterFactory,
)

JsonDict = dict[str, Any]


class GraphError(Exception):
    """A Graph error response: status, `error.code`, `error.message` and optional details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[JsonDict] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Bodies


def _odata_name(model: object) -> str:
    name = type(model).__name__
    return "microsoft.graph." + name[0].lower() + name[1:]


def _unknown_keys(model: object, path: str) -> list[tuple[str, str]]:
    """(json path, declaring type) of every key the SDK model did not recognise."""
    found: list[tuple[str, str]] = []
    extra = getattr(model, "additional_data", None) or {}
    found.extend((f"{path}{key}", _odata_name(model)) for key in extra if key != "@odata.type")
    if not dataclasses.is_dataclass(model):
        return found
    for field in dataclasses.fields(model):
        if field.name in ("backing_store", "additional_data"):
            continue
        value = getattr(model, field.name, None)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Parsable):
                found.extend(_unknown_keys(item, f"{path}{field.name}."))
    return found


def _same_scalar(raw: Any, echoed: Any) -> bool:
    if isinstance(raw, bool) or isinstance(echoed, bool):
        return raw is echoed
    if isinstance(raw, int | float) and isinstance(echoed, int | float):
        return float(raw) == float(echoed)
    if not (isinstance(raw, str) and isinstance(echoed, str)):
        return False
    # The SDK re-prints GUIDs in lower case and dates with +00:00; both are the same value.
    return raw == echoed or any(_same_parsed(parse, raw, echoed) for parse in _REPRINTED)


_REPRINTED: tuple[Callable[[str], Any], ...] = (uuid.UUID, dt.datetime.fromisoformat)


def _same_parsed(parse: Callable[[str], Any], raw: str, echoed: str) -> bool:
    try:
        return bool(parse(raw) == parse(echoed))
    except ValueError:
        return False


def _first_mismatch(raw: Any, echoed: Any, path: str) -> str | None:
    """Where `raw` and the SDK's re-serialisation of it differ: a value the SDK dropped because
    its type was wrong (kiota turns wrongly typed values into None without a word)."""
    pairs: list[tuple[str, Any, Any]]
    if raw is None:
        pairs = []
    elif isinstance(raw, dict) and isinstance(echoed, dict):
        pairs = [
            (f"{path}.{key}" if path else key, value, echoed.get(key)) for key, value in raw.items()
        ]
    elif isinstance(raw, list) and isinstance(echoed, list) and len(echoed) == len(raw):
        pairs = [
            (f"{path}[{index}]", item, echo)
            for index, (item, echo) in enumerate(zip(raw, echoed, strict=True))
        ]
    elif isinstance(raw, dict | list) or not _same_scalar(raw, echoed):
        return path or "(body)"
    else:
        pairs = []
    for where, item, echo in pairs:
        found = _first_mismatch(item, echo, where)
        if found:
            return found
    return None


def parse_body(raw: bytes, model: ParsableFactory[Any], expected_type: str | None) -> Any:
    """Parse a request body with the SDK model `model`, refusing what Graph refuses: no body,
    bad JSON, properties the type does not declare (wrong casing included), wrongly typed
    values, and an `@odata.type` naming another type."""
    if not raw.strip():
        raise bad_request("Empty Payload. JSON content expected.", "BadRequest")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            f"payload is of valid JSON format. ({exc})",
            "BadRequest",
        ) from exc
    if not isinstance(document, dict):
        raise bad_request("The request payload must be a JSON object.", "BadRequest")
    odata_type = document.get("@odata.type")
    if expected_type and odata_type not in (None, f"#{expected_type}", expected_type):
        raise bad_request(
            f"A resource of type '{odata_type}' was found where '{expected_type}' was expected.",
            "BadRequest",
        )
    try:
        node = JsonParseNodeFactory().get_root_parse_node("application/json", raw)
        parsed = node.get_object_value(model)
    except Exception as exc:  # kiota raises whatever json/uuid/dateutil raise on a bad value
        raise bad_request(
            f"Cannot convert a value in the payload to the expected type: {exc}", "BadRequest"
        ) from exc
    unknown = _unknown_keys(parsed, "")
    if unknown:
        key, owner = unknown[0]
        raise bad_request(
            f"The property '{key.rsplit('.', 1)[-1]}' does not exist on type '{owner}'. Make "
            "sure to only use property names that are defined by the type or mark the type as "
            "open type."
        )
    writer = JsonSerializationWriterFactory().get_serialization_writer("application/json")
    writer.write_object_value(None, parsed)
    echoed = json.loads(writer.get_serialized_content() or b"{}")
    where = _first_mismatch(document, echoed, "")
    if where:
        raise bad_request(
            f"Cannot convert the value of property '{where}' to the type it is declared with.",
            "BadRequest",
        )
    return parsed


def body_keys(raw: bytes) -> JsonDict:
    """The JSON body as a dict, after `parse_body` accepted it."""
    document: JsonDict = json.loads(raw)
    document.pop("@odata.type", None)
    return document


# ---------------------------------------------------------------------------------------------
# $filter

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<punct>[(),:])
      | (?P<word>[A-Za-z_$][A-Za-z0-9_./$]*)
      | (?P<number>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)

Predicate = Callable[[JsonDict], bool]


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """What a collection supports: property path -> operators (`eq`, `in`, `startswith`,
    `any`), and the type name Graph puts in its refusal."""

    resource: str
    properties: Mapping[str, frozenset[str]]


def _unsupported(spec: FilterSpec, prop: str) -> GraphError:
    return bad_request(
        f"Unsupported or invalid query filter clause specified for property '{prop}' of "
        f"resource '{spec.resource}'.",
        "Request_UnsupportedQuery",
    )


def _invalid(detail: str) -> GraphError:
    return bad_request(f"Invalid filter clause: {detail}", "BadRequest")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _invalid(f"syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _lookup(item: JsonDict, path: str) -> Any:
    value: Any = item
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _equal(left: Any, right: Any) -> bool:
    # Directory string comparisons ignore case.
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return bool(left == right)


class _FilterParser:
    def __init__(self, text: str, spec: FilterSpec) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.spec = spec
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        token = self.peek()
        if token is None:
            raise _invalid(f"unexpected end of '{self.text}'.")
        if (kind and token[0] != kind) or (value and token[1].lower() != value):
            raise _invalid(f"unexpected '{token[1]}' in '{self.text}'.")
        self.index += 1
        return token[1]

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() in words

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise _invalid(f"unexpected '{self.peek()}' in '{self.text}'.")
        return predicate

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.at_word("or"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda item: any(p(item) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_primary()]
        while self.at_word("and"):
            self.take()
            parts.append(self.parse_primary())
        return parts[0] if len(parts) == 1 else (lambda item: all(p(item) for p in parts))

    def literal(self) -> Any:
        token = self.peek()
        if token and token[0] == "string":
            self.take()
            return token[1][1:-1].replace("''", "'")
        if token and token[0] == "word" and token[1].lower() in ("true", "false", "null"):
            self.take()
            return {"true": True, "false": False, "null": None}[token[1].lower()]
        if token and token[0] == "number":
            self.take()
            return float(token[1]) if "." in token[1] else int(token[1])
        raise _invalid(f"a literal was expected in '{self.text}'.")

    def check(self, prop: str, operator: str) -> None:
        if operator not in self.spec.properties.get(prop, frozenset()):
            raise _unsupported(self.spec, prop)

    def parse_primary(self) -> Predicate:
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.parse_or()
            self.take("punct", ")")
            return inner
        if self.at_word("not"):
            # Graph accepts `not` only as an advanced query (ConsistencyLevel + $count).
            raise bad_request(
                "Unsupported query: 'not' needs an advanced query.", "Request_UnsupportedQuery"
            )
        if self.at_word("startswith"):
            self.take()
            self.take("punct", "(")
            prop = self.take("word")
            self.take("punct", ",")
            prefix = self.literal()
            self.take("punct", ")")
            self.check(prop, "startswith")
            return lambda item: (
                isinstance(_lookup(item, prop), str)
                and str(_lookup(item, prop)).casefold().startswith(str(prefix).casefold())
            )
        word = self.take("word")
        if word.lower().endswith(("/any", "/all")):
            return self.parse_lambda(word)
        operator = self.take("word").lower()
        if operator == "eq":
            self.check(word, "eq")
            value = self.literal()
            return lambda item: _equal(_lookup(item, word), value)
        if operator == "in":
            self.check(word, "in")
            self.take("punct", "(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.literal())
            self.take("punct", ")")
            return lambda item: any(_equal(_lookup(item, word), v) for v in values)
        if operator in ("ne", "gt", "ge", "lt", "le"):
            raise _unsupported(self.spec, word)
        raise _invalid(f"unknown operator '{operator}' in '{self.text}'.")

    def parse_lambda(self, word: str) -> Predicate:
        prop, _, kind = word.rpartition("/")
        if kind.lower() != "any":
            raise _unsupported(self.spec, prop)
        self.check(prop, "any")
        self.take("punct", "(")
        variable = self.take("word")
        self.take("punct", ":")
        if self.at_word("startswith"):
            self.take()
            self.take("punct", "(")
            self.take("word", variable.lower())
            self.take("punct", ",")
            prefix = str(self.literal()).casefold()
            self.take("punct", ")")
            self.take("punct", ")")
            return lambda item: any(
                isinstance(v, str) and v.casefold().startswith(prefix)
                for v in (_lookup(item, prop) or [])
            )
        self.take("word", variable.lower())
        self.take("word", "eq")
        value = self.literal()
        self.take("punct", ")")
        return lambda item: any(_equal(v, value) for v in (_lookup(item, prop) or []))


def compile_filter(text: str, spec: FilterSpec) -> Predicate:
    """A predicate for a `$filter` expression, or the 400 Graph answers for it."""
    return _FilterParser(text, spec).parse()
