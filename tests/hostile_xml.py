"""XML documents that declare a DTD, written in the encodings an XML parser detects itself.

A byte search for `<!DOCTYPE` sees nothing in UTF-16, where every other byte is a zero, and
only the first bytes if it stops early; a parser reads them all. The Lambdas that read
federation metadata must refuse each of these at the parser, before any declaration is used.
"""

from __future__ import annotations

_MD = "urn:oasis:names:tc:SAML:2.0:metadata"

# The "billion laughs": ten levels of ten references, 10^9 copies of "lol" once expanded.
_LAUGHS = "".join(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10))
BOMB_DTD = f'<!DOCTYPE EntityDescriptor [<!ENTITY lol0 "lol">{_LAUGHS}]>'
BOMB_BODY = f'<EntityDescriptor xmlns="{_MD}">&lol9;</EntityDescriptor>'
# A harmless declaration: without a parser-level refusal it is expanded and the document read.
SMALL_DTD = '<!DOCTYPE EntityDescriptor [<!ENTITY name "Contoso">]>'
SMALL_BODY = f'<EntityDescriptor xmlns="{_MD}" entityID="&name;"/>'
EXTERNAL_DTD = '<!DOCTYPE EntityDescriptor SYSTEM "http://169.254.169.254/latest/meta-data/">'
PARAMETER_DTD = (
    '<!DOCTYPE EntityDescriptor [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>'
)

# (encoding name as Python spells it, as the XML declaration spells it)
ENCODINGS = [
    ("utf-8", "UTF-8"),
    ("utf-8-sig", "UTF-8"),  # with a byte order mark
    ("utf-16", "UTF-16"),  # with a byte order mark
    ("utf-16-le", "UTF-16"),  # no byte order mark: detected from "<\0?\0"
    ("utf-16-be", "UTF-16"),
]


def document(dtd: str, body: str, encoding: str = "utf-8", declared: str = "UTF-8") -> bytes:
    return f'<?xml version="1.0" encoding="{declared}"?>{dtd}{body}'.encode(encoding)


def bomb(encoding: str = "utf-8", declared: str = "UTF-8") -> bytes:
    return document(BOMB_DTD, BOMB_BODY, encoding, declared)


def after_a_long_comment(dtd: str, body: str) -> bytes:
    """A DTD preceded by 8 KB of comment, past any check of the first few kilobytes."""
    return f'<?xml version="1.0"?><!--{"x" * 8192}-->{dtd}{body}'.encode()
