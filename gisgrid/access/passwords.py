"""Password hashing (argon2id) and the password rules.

Rules: at least 10 characters, not the user name (or contain it), not one of a short list of
common passwords, not all one character.  Messages are the user interface's (Chinese).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gisgrid.errors import InputError

MIN_LENGTH = 10
MAX_LENGTH = 128
# The most used passwords and their local favourites (rockyou, SplashData, 中文常见密码 lists).
COMMON = frozenset("""
1234567890 12345678910 0123456789 1111111111 1234512345 1q2w3e4r5t 1qaz2wsx3edc qwertyuiop
qwerty1234 qwertyuiop1 password12 password123 password1234 passw0rd12 iloveyou12 abc1234567
abcdefghij a123456789 aa12345678 admin12345 admin123456 administrator 5201314520 woaini1314
woaini5201314 zxcvbnm123 qazwsxedc123 asdfghjkl1 1314520520 gisgrid123 gisgrid2026 gisgrid2027
changeme123 welcome123 letmein123 sunshine12 football12 baseball12 monkey1234 dragon1234
""".split())

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters


def check_password_rules(password: str, username: str) -> None:
    """Raise InputError (a Chinese message saying what to change) if ``password`` breaks a rule."""
    if not isinstance(password, str):
        raise InputError("密码须为文本")
    if len(password) < MIN_LENGTH:
        raise InputError(f"密码至少 {MIN_LENGTH} 个字符（现为 {len(password)} 个）")
    if len(password) > MAX_LENGTH:
        raise InputError(f"密码至多 {MAX_LENGTH} 个字符")
    lowered = password.lower()
    if username and username.lower() in lowered:
        raise InputError("密码不能包含用户名")
    if lowered in COMMON or len(set(password)) < 3:
        raise InputError("密码过于常见或简单，请换一个")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (False for no hash or a broken one)."""
    if not stored_hash:
        # Same work as a real check, so a missing account cannot be told apart by timing.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def generate_password() -> str:
    """A random initial password (16 characters, no look-alikes), to be changed at first login."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
