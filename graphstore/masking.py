"""Hide secrets in URIs and free text before they are printed, logged or put in an error message.

A secret is the password of a URL's userinfo (`scheme://user:PASSWORD@host`), the value of a query parameter
or libpq `key=value` pair whose name says it is secret (password, sslpassword, token, secret, api key, ...).
"""

from __future__ import annotations

import re

MASK = "****"
# Parameter names that carry secrets: password, passwd, pwd, sslpassword, token, access_token, secret, apikey,
# api_key, auth, credential(s), signature/sig, private key.
SECRET_NAME = re.compile(r"pass|pwd|token|secret|key|auth|cred|sig", re.IGNORECASE)
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s<>\"'`]+")
PAIR_IN_TEXT = re.compile(
    r"(?P<name>\b[A-Za-z_][A-Za-z0-9_\-]*)(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&;,'\"]+)"
)


def _mask_userinfo(authority_and_path: str) -> str:
    """Mask the password of `user:password@host...` (userinfo ends at the last '@' before any '?' or '#')."""
    end = min(
        (i for i in (authority_and_path.find("?"), authority_and_path.find("#")) if i >= 0),
        default=len(authority_and_path),
    )
    at = authority_and_path.rfind("@", 0, end)
    if at < 0:
        return authority_and_path
    userinfo, rest = authority_and_path[:at], authority_and_path[at:]
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":" + MASK
    return userinfo + rest


def _mask_query(query: str) -> str:
    """Mask the values of secret-named parameters in `a=1&password=x;token=y`."""
    parts = re.split(r"([&;])", query)
    out = []
    for part in parts:
        name, eq, value = part.partition("=")
        secret = eq and SECRET_NAME.search(name) and not value.startswith(MASK)
        out.append(f"{name}={MASK}" if secret else part)
    return "".join(out)


def mask_url(url: str) -> str:
    """The URL with its userinfo password and secret query parameters replaced by ****; other text unchanged."""
    text = str(url)
    if "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    rest = _mask_userinfo(rest)
    head, sep, query = rest.partition("?")
    if sep:
        query, hash_sep, fragment = query.partition("#")
        rest = head + sep + _mask_query(query) + hash_sep + fragment
    return f"{scheme}://{rest}"


def _mask_pair(match: re.Match[str]) -> str:
    """Replacement for one `name=value` pair: masked when the name is secret."""
    if not SECRET_NAME.search(match["name"]) or match["value"].startswith(MASK):
        return match[0]
    return f"{match['name']}{match['eq']}{MASK}"


def mask_text(text: str) -> str:
    """Free text (an exception message, a log line) with every URL masked and secret `name=value` pairs hidden."""
    masked = URL_IN_TEXT.sub(lambda m: mask_url(m[0]), str(text))
    return PAIR_IN_TEXT.sub(_mask_pair, masked)


def mask_secret(text: str, *secrets: str) -> str:
    """text with each given secret (e.g. a known password) replaced by ****, then mask_text applied."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return mask_text(text)


def mask_argv(argv: list[str]) -> list[str]:
    """A command line with the value of every secret-named option masked (`--neo4j-password X`, `--token=X`),
    and mask_text applied to each argument."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        flag = argv[i - 1] if i else ""
        if flag.startswith("-") and "=" not in flag and SECRET_NAME.search(flag) and not arg.startswith("-"):
            out.append(MASK)
        else:
            out.append(mask_text(arg))
    return out
