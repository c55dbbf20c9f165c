"""The password policy (001 8.3.3; 000 8.3.3): argon2id hashes, strength, expiry and history."""

from __future__ import annotations

import datetime as dt
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from jcjg.config import Settings
from jcjg.core.errors import FieldError, ValidationFailed

# zxcvbn's matching grows with the square of the length (a 128-character password costs a
# second of CPU): the guessability check reads the first 32 characters, which decide it (a
# password is at least as hard to guess as its beginning)
GUESS_PREFIX = 32
# words every account of this platform is likely to be near (zxcvbn's own dictionaries are
# English): its name, the regulator's pinyin, the province
PLATFORM_WORDS = ("jcjg", "jiance", "jianguan", "jianshe", "gongcheng", "jiangxi", "admin")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

_CLASSES = (
    ("小写字母", set(string.ascii_lowercase)),
    ("大写字母", set(string.ascii_uppercase)),
    ("数字", set(string.digits)),
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong password or a broken hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def character_classes(password: str) -> int:
    """How many of lower case, upper case, digits and other characters ``password`` uses."""
    count = sum(1 for _, chars in _CLASSES if any(c in chars for c in password))
    if any(not c.isalnum() or not c.isascii() for c in password):
        count += 1
    return count


def policy_problems(password: str, settings: Settings, *, username: str | None = None) -> list[str]:
    """What is wrong with ``password`` under the policy, in Chinese; empty when it is fine."""
    problems: list[str] = []
    if len(password) < settings.password_min_length:
        problems.append(f"密码至少 {settings.password_min_length} 位")
    if len(password) > 128:
        problems.append("密码不能超过 128 位")
    if character_classes(password) < settings.password_min_classes:
        problems.append(
            "密码须包含小写字母、大写字母、数字、特殊字符中的"
            f"至少 {settings.password_min_classes} 类"
        )
    if username and username.lower() in password.lower():
        problems.append("密码不能包含用户名")
    elif not problems and guessability(password, username) < settings.password_min_strength:
        problems.append("密码过于常见或容易猜到（如 Password1!、Admin@123 及其变形），请换一个")
    return problems


def guessability(password: str, username: str | None = None) -> int:
    """zxcvbn's score of ``password``: 0 (among the most common passwords) to 4 (very hard to
    guess), the common-password list with its capitalised, l33t and digit-suffixed variants,
    keyboard walks, repeats, sequences and dates counted as the few guesses they are."""
    words = [*PLATFORM_WORDS, *([username] if username else [])]
    result = zxcvbn(password[:GUESS_PREFIX], user_inputs=words, max_length=GUESS_PREFIX)
    return int(result["score"])


def check_policy(
    password: str, settings: Settings, *, username: str | None = None, field: str = "password"
) -> None:
    """Raise a field-level validation error when ``password`` breaks the policy."""
    problems = policy_problems(password, settings, username=username)
    if problems:
        raise ValidationFailed(
            "密码不符合安全规则：" + "；".join(problems),
            errors=[FieldError(field, p, "password_policy") for p in problems],
        )


def is_expired(changed_at: dt.datetime, settings: Settings, now: dt.datetime) -> bool:
    if settings.password_max_age_days <= 0:
        return False
    return now - changed_at > dt.timedelta(days=settings.password_max_age_days)


def generate_password(length: int = 14) -> str:
    """A random password that satisfies the default policy (for demo users and resets)."""
    alphabet = string.ascii_letters + string.digits + "!#%+-=?@"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if character_classes(candidate) >= 4 and guessability(candidate) >= 4:
            return candidate
