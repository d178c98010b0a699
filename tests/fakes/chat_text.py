"""Ordinary chat text, as a team writes it: prose, code, URLs, hashes, UUIDs, base64, JWTs,
and words that end in `sk` (`task-`, `risk-`, `desk-`) glued to all of them."""

from __future__ import annotations

import base64
import json
import random
import uuid

WORDS = (
    "the",
    "a",
    "to",
    "of",
    "and",
    "is",
    "it",
    "for",
    "on",
    "with",
    "this",
    "that",
    "be",
    "are",
    "you",
    "can",
    "we",
    "how",
    "what",
    "why",
    "when",
    "task",
    "risk",
    "desk",
    "ask",
    "mask",
    "disk",
    "kiosk",
    "whisk",
    "husk",
    "tusk",
    "brisk",
    "dusk",
    "flask",
    "asks",
    "tasks",
    "risks",
    "desks",
    "masks",
    "disks",
    "model",
    "token",
    "key",
    "secret",
    "api",
    "project",
    "service",
    "account",
    "admin",
    "answer",
    "question",
    "thread",
    "channel",
    "deploy",
    "python",
    "rust",
    "code",
    "build",
    "test",
    "release",
    "merge",
    "branch",
    "commit",
    "review",
    "learn",
    "scikit",
    "pandas",
    "numpy",
    "k-means",
    "skip",
    "sketch",
    "skill",
    "skeleton",
    "sky",
    "ski",
    "sk8",
)
# Words that end in `sk`, and `sk` itself (as in `sk-learn`) last.
SK_WORDS = ("task", "risk", "desk", "ask", "mask", "disk", "kiosk", "whisk", "flask", "sk")
UNICODE = (
    "Café ☕ déjà vu — naïve",
    "日本語のテキスト",
    "🚀 ship it 👍",
    "risk – mitigation",
    "C:\\Users\\task\\new_folder",
    "100% done, 50%2D off",
    "a\u00adsoft\u200bhyphen",
)


def _sentence(rng: random.Random) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20)))
    return text[0].upper() + text[1:] + rng.choice((".", "?", "!", "", " —", " – ok", "..."))


def _kebab(rng: random.Random) -> str:
    parts = [rng.choice(SK_WORDS), *(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))]
    if rng.random() < 0.3:
        parts.append(str(rng.randint(1, 2030)))
    if rng.random() < 0.3:
        parts = [part.capitalize() for part in parts]
    return rng.choice("-_").join(parts)


def _identifier(rng: random.Random) -> str:
    parts = [rng.choice(WORDS).replace("-", "") for _ in range(rng.randint(2, 5))]
    match rng.randrange(3):
        case 0:
            return "_".join(parts)
        case 1:
            return parts[0] + "".join(p.capitalize() for p in parts[1:])
        case _:
            return "".join(p.capitalize() for p in parts)


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def _base64(rng: random.Random, size: int, *, url: bool = False) -> str:
    raw = rng.randbytes(size)
    return (base64.urlsafe_b64encode if url else base64.b64encode)(raw).decode()


def _jwt(rng: random.Random) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    claims = {"sub": str(rng.randint(1, 10**9)), "task": _kebab(rng)}
    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}.{part(rng.randbytes(32))}"


def _url(rng: random.Random) -> str:
    def segment() -> str:
        return rng.choice((_kebab(rng), _identifier(rng), _hex(rng, 40), _uuid(rng)))

    path = "/".join(segment() for _ in range(rng.randint(1, 4)))
    query = ""
    if rng.random() < 0.5:
        words = "%20".join(rng.choice(WORDS) for _ in range(3))
        query = f"?q={words}&id={_hex(rng, 12)}"
    host = rng.choice(("github.com", "example.com", "docs.python.org"))
    return f"https://{host}/{path}{query}"


def _code(rng: random.Random) -> str:
    match rng.randrange(6):
        case 0:
            return (
                f"def {_identifier(rng)}(self, {_identifier(rng)}: str) -> None:\n"
                f"    return self.{_identifier(rng)}[{rng.randint(0, 9)}]"
            )
        case 1:
            return f"const {_identifier(rng)} = await fetch(`{_url(rng)}`);"
        case 2:
            return (
                f"{_kebab(rng)}:\n  image: registry/{_kebab(rng)}:{_hex(rng, 7)}\n"
                f"  env: {_identifier(rng).upper()}={_base64(rng, 12)}"
            )
        case 3:
            return f'git commit -m "{_sentence(rng)}" && git push origin {_kebab(rng)}'
        case 4:
            query = ("SELECT", _identifier(rng), "FROM", _identifier(rng), "WHERE id =")
            return " ".join(query) + f" '{_uuid(rng)}';"
        case _:
            return f"```python\nimport sklearn\n{_identifier(rng)} = {rng.random()}\n```"


def _piece(rng: random.Random) -> str:
    match rng.randrange(12):
        case 0:
            return _sentence(rng)
        case 1:
            return _kebab(rng)
        case 2:
            return _identifier(rng)
        case 3:
            return _url(rng)
        case 4:
            return _code(rng)
        case 5:
            return _jwt(rng)
        case 6:
            return _hex(rng, 40)
        case 7:
            return _hex(rng, 7)
        case 8:
            return _uuid(rng)
        case 9:
            return _base64(rng, rng.randint(16, 200), url=rng.random() < 0.5)
        case 10:
            # Ids that start like a key and go on in hex: `task-<uuid>`, `desk-<hash>`.
            word = rng.choice(SK_WORDS[:-1])
            return f"{word}-{rng.choice((_hex(rng, 40), _uuid(rng)))}"
        case _:
            return rng.choice(UNICODE)


def chat_message(rng: random.Random) -> str:
    """One to four pieces of ordinary text, as one message."""
    return rng.choice((" ", "\n", " ", ", ")).join(_piece(rng) for _ in range(rng.randint(1, 4)))
