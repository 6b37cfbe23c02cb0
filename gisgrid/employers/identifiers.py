"""Employer identifiers: 统一社会信用代码 (GB 32100-2015) and 组织机构代码 (GB 11714).

Both codes end in a check character. A failed check is reported, never silently
"fixed": some legal early codes (the Fujian pilot) fail it, so callers treat
``False`` as a warning a person may override with a reason, not as a reject.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I O S V Z
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # GB 11714 body: value = index
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_CREDIT_VALUES = {char: value for value, char in enumerate(CREDIT_ALPHABET)}
_ORG_VALUES = {char: value for value, char in enumerate(ORG_BODY_ALPHABET)}

# make_credit_code: even serials get an old-style all-digit body, odd serials a post-2015
# "MA" body (MA + 6 characters). Both families are bijections of serial // 2, so codes never
# repeat. The multiplier scatters consecutive serials; it is coprime to both moduli.
_SERIAL_LIMIT = 2 * 10**8
_SCATTER = 61_803_399
_DIGIT_SPACE = 10**8
_MA_SPACE = len(CREDIT_ALPHABET) ** 6


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a credit code.

    Parameters
    ----------
    first17
        Positions 1–17 of a 统一社会信用代码; surrounding spaces and lower case are accepted.

    Returns
    -------
    str
        One character of ``0123456789ABCDEFGHJKLMNPQRTUWXY``.

    Raises
    ------
    ValueError
        When the text is not 17 characters of that alphabet.

    Examples
    --------
    >>> credit_code_check_char("91110000600037341")
    'L'
    >>> credit_code_check_char("9111000060003734I")
    Traceback (most recent call last):
    ...
    ValueError: first17 '9111000060003734I' has 'I' at position 17; allowed characters are 0123456789ABCDEFGHJKLMNPQRTUWXY
    """
    text = _normalise(first17)
    _require_length("first17", text, 17)
    _require_alphabet("first17", text, CREDIT_ALPHABET)
    total = sum(_CREDIT_VALUES[char] * weight for char, weight in zip(text, CREDIT_WEIGHTS))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """Tell whether a 统一社会信用代码 is well formed and its check character matches.

    Only position 18 is checked: the organisation code inside (positions 9–17) is not,
    because GB 32100 validity does not depend on it.

    Parameters
    ----------
    code
        18 characters; surrounding spaces and lower case are accepted.

    Returns
    -------
    bool
        ``False`` for a wrong length, a character outside the alphabet (I O S V Z, symbols),
        a check character that does not match, or a value that is not text (``None``).

    Examples
    --------
    >>> is_valid_credit_code("91110000600037341L"), is_valid_credit_code(" 91110000600037341l ")
    (True, True)
    >>> is_valid_credit_code("91110000600037341M"), is_valid_credit_code("9111000060003734IL")
    (False, False)
    """
    if not isinstance(code, str):
        return False
    text = _normalise(code)
    if len(text) != 18 or any(char not in _CREDIT_VALUES for char in text):
        return False
    return credit_code_check_char(text[:17]) == text[17]


def match_credit_code_shape(codes: Iterable) -> np.ndarray:
    """Tell, for many values at once, which are exactly 18 characters of the credit-code alphabet.

    No normalisation: a code with spaces or lower case does not match (unlike
    :func:`is_valid_credit_code`, which strips and upper-cases first). The same answer as
    ``re.fullmatch(f"[{CREDIT_ALPHABET}]{{18}}", code)`` per value, over numpy arrays of
    the character codes instead of a regular expression per value.

    Parameters
    ----------
    codes
        Any values; those that are not text never match.

    Returns
    -------
    numpy.ndarray
        One bool per value.

    Examples
    --------
    >>> match_credit_code_shape(["91110000600037341L", "91110000600037341l", None, "9111000060003734IL"]).tolist()
    [True, False, False, False]
    """
    values = codes if isinstance(codes, np.ndarray) and codes.dtype == object else np.array(list(codes), dtype=object)
    shaped, _ = _credit_matrix(values)
    return shaped


def are_valid_credit_codes(codes: Iterable) -> np.ndarray:
    """:func:`is_valid_credit_code` of many values at once (the GB 32100 check over numpy arrays).

    Values already in the canonical form (18 upper-case characters of the alphabet, the
    usual case) are checked together: their character values times the weights, summed,
    modulo 31. The others (spaces, lower case, wrong length, not text) go through
    :func:`is_valid_credit_code` one by one, so the answer is the same value for value.

    Parameters
    ----------
    codes
        Any values.

    Returns
    -------
    numpy.ndarray
        One bool per value.

    Examples
    --------
    >>> are_valid_credit_codes(["91110000600037341L", "91110000600037341M", " 91110000600037341l ", None]).tolist()
    [True, False, True, False]
    """
    values = codes if isinstance(codes, np.ndarray) and codes.dtype == object else np.array(list(codes), dtype=object)
    shaped, matrix = _credit_matrix(values)
    valid = np.zeros(len(values), dtype=bool)
    if shaped.any():
        total = matrix[:, :17].astype(np.int32) @ _CREDIT_WEIGHT_ARRAY
        valid[shaped] = (31 - total % 31) % 31 == matrix[:, 17]
    for i in np.flatnonzero(~shaped):
        valid[i] = is_valid_credit_code(values[i])
    return valid


def _credit_matrix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of values that are 18 alphabet characters, their character values, one row each)."""
    shaped = np.zeros(len(values), dtype=bool)
    present = np.flatnonzero(values != None)  # noqa: E711 (element-wise)
    try:  # usually every value present is text: no isinstance per value
        lengths = np.fromiter(map(len, values[present]), dtype=np.int64, count=len(present))
        candidates = present[lengths == 18]
        joined = "".join(values[candidates])
    except TypeError:  # NaN, numbers, lists of 18…: only text counts
        is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
        lengths = np.fromiter((len(v) if t else 0 for v, t in zip(values, is_text)), dtype=np.int64,
                              count=len(values))
        candidates = np.flatnonzero(is_text & (lengths == 18))
        joined = "".join(values[candidates])
    if not len(candidates):
        return shaped, np.zeros((0, 18), dtype=np.int8)
    # UTF-32 gives every character one code unit, whatever the script: an 18-character
    # value is 18 numbers even when it holds Chinese or full-width characters.
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).reshape(-1, 18)
    # One byte per character (-1 outside the alphabet, code points ≥ 128 included): a
    # million codes stay 18 MB instead of 144 MB of int64, which cost more than the maths.
    matrix = _CREDIT_LOOKUP[np.minimum(points, 128)]
    ok = (matrix >= 0).all(axis=1)
    shaped[candidates[ok]] = True
    return shaped, matrix[ok]


_CREDIT_LOOKUP = np.full(129, -1, dtype=np.int8)  # index 128: any code point from 128 up
for _value, _char in enumerate(CREDIT_ALPHABET):
    _CREDIT_LOOKUP[ord(_char)] = _value
_CREDIT_WEIGHT_ARRAY = np.array(CREDIT_WEIGHTS, dtype=np.int32)


def org_code_check_char(first8: str) -> str:
    """Return the GB 11714 check character for the 8-character body of an organisation code.

    Parameters
    ----------
    first8
        The body: digits and upper-case letters A–Z (lower case is accepted).

    Returns
    -------
    str
        ``'0'``–``'9'`` or ``'X'`` (check value 10); a value of 11 is written ``'0'``.

    Raises
    ------
    ValueError
        When the body is not 8 digits or letters.

    Examples
    --------
    >>> org_code_check_char("60003734")
    '1'
    >>> org_code_check_char("6000373")
    Traceback (most recent call last):
    ...
    ValueError: first8 was '6000373' (7 characters); expected exactly 8
    """
    text = _normalise(first8)
    _require_length("first8", text, 8)
    _require_alphabet("first8", text, ORG_BODY_ALPHABET)
    total = sum(_ORG_VALUES[char] * weight for char, weight in zip(text, ORG_WEIGHTS))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def is_valid_org_code(code: str) -> bool:
    """Tell whether a 组织机构代码 is well formed and its check character matches.

    Parameters
    ----------
    code
        8 body characters and the check character, with or without a hyphen before the
        check character (``60003734-1`` or ``600037341``); lower case is accepted.

    Returns
    -------
    bool
        ``False`` for a wrong length, a character outside the alphabet, a wrong check or a
        value that is not text.

    Examples
    --------
    >>> is_valid_org_code("60003734-1"), is_valid_org_code("600037341"), is_valid_org_code("60003734-2")
    (True, True, False)
    """
    if not isinstance(code, str):
        return False
    text = _normalise(code)
    if len(text) == 10 and text[8] == "-":
        text = text[:8] + text[9]
    if len(text) != 9 or any(char not in _ORG_VALUES for char in text[:8]):
        return False
    return org_code_check_char(text[:8]) == text[8]


def make_credit_code(region6: str, serial: int, dept: str = "9", kind: str = "1") -> str:
    """Build a valid 统一社会信用代码 whose organisation code derives from a serial number.

    Parameters
    ----------
    region6
        GB/T 2260 county code, 6 digits (positions 3–8).
    serial
        0 ≤ serial < 200,000,000. Distinct serials give distinct codes. Even serials give an
        old-style all-digit organisation code, odd serials a post-2015 ``MA…`` one.
    dept
        Registering authority, position 1 (``9`` market regulation, ``1`` staffing office,
        ``5`` civil affairs, ``N`` agriculture, ``Y`` other…).
    kind
        Entity type within the authority, position 2 (under ``9``: ``1`` enterprise,
        ``2`` individual business, ``3`` farmers' co-operative).

    Returns
    -------
    str
        18 characters that pass :func:`is_valid_credit_code`, and whose positions 9–17
        pass :func:`is_valid_org_code`.

    Raises
    ------
    ValueError
        For a region that is not 6 digits, a serial out of range, or a dept/kind that is
        not one character of the GB 32100 alphabet.

    Examples
    --------
    >>> make_credit_code("419901", 0)
    '914199017000123446'
    >>> make_credit_code("419901", 1, kind="2")
    '92419901MA000CT71K'
    >>> make_credit_code("4199", 1)
    Traceback (most recent call last):
    ...
    ValueError: region6 was '4199'; expected 6 digits (a GB/T 2260 county code such as '419901')
    """
    if not (isinstance(region6, str) and len(region6) == 6 and region6.isascii() and region6.isdigit()):
        raise ValueError(f"region6 was {region6!r}; expected 6 digits (a GB/T 2260 county code such as '419901')")
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < _SERIAL_LIMIT:
        raise ValueError(f"serial was {serial!r}; expected an integer from 0 to {_SERIAL_LIMIT - 1}")
    for label, char in (("dept", dept), ("kind", kind)):
        if not (isinstance(char, str) and len(char) == 1 and char in _CREDIT_VALUES):
            raise ValueError(f"{label} was {char!r}; expected one character of {CREDIT_ALPHABET}")
    body = _org_body(serial)
    # The GB 11714 check is always 0–9 or X, all inside the GB 32100 alphabet, and the body
    # avoids I O S V Z, so the organisation code never needs bumping to fit positions 9–17.
    first17 = dept + kind + region6 + body + org_code_check_char(body)
    return first17 + credit_code_check_char(first17)


def _org_body(serial: int) -> str:
    index, family = divmod(serial, 2)
    if family == 0:
        return f"{(index * _SCATTER + 70_001_234) % _DIGIT_SPACE:08d}"
    value = (index * _SCATTER + 12_345) % _MA_SPACE
    chars = []
    for _ in range(6):
        value, digit = divmod(value, len(CREDIT_ALPHABET))
        chars.append(CREDIT_ALPHABET[digit])
    return "MA" + "".join(reversed(chars))


def _normalise(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    return text.strip().upper()


def _require_length(label: str, text: str, length: int) -> None:
    if len(text) != length:
        raise ValueError(f"{label} was {text!r} ({len(text)} characters); expected exactly {length}")


def _require_alphabet(label: str, text: str, alphabet: str) -> None:
    for position, char in enumerate(text, start=1):
        if char not in alphabet:
            raise ValueError(
                f"{label} {text!r} has {char!r} at position {position}; allowed characters are {alphabet}"
            )
