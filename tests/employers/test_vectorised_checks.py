"""The column-wide checks of the register import agree with the per-value ones, value for value;
the COPY text made by a thread ahead of COPY is the same text, and stops with COPY."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gisgrid.employers.identifiers import (
    CREDIT_ALPHABET,
    are_valid_credit_codes,
    is_valid_credit_code,
    make_credit_code,
    match_credit_code_shape,
)
from gisgrid.employers.register import _copy_text, _CopyStream, validate_register

SHAPE = re.compile(f"[{CREDIT_ALPHABET}]{{18}}")


def _broken(rng: np.random.Generator, code: str) -> str:
    """One random way a typed code goes wrong (or not)."""
    kind = rng.integers(0, 12)
    position = int(rng.integers(0, 18))
    if kind == 0:  # another character of the alphabet: usually fails the check
        return code[:position] + CREDIT_ALPHABET[rng.integers(0, 31)] + code[position + 1:]
    if kind == 1:  # a letter GB 32100 leaves out
        return code[:position] + "IOSVZ"[rng.integers(0, 5)] + code[position + 1:]
    if kind == 2:
        return code.lower()
    if kind == 3:
        return f" {code}\u3000"  # full-width space: str.strip() removes it
    if kind == 4:
        return code[:17]
    if kind == 5:
        return code + "1"
    if kind == 6:  # full-width digits (NFKC would fix them, the check does not)
        return code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if kind == 7:
        return code[:position] + "甲" + code[position + 1:]
    if kind == 8:
        return code[:position] + "ß" + code[position + 1:]  # "ß".upper() is "SS": the length changes
    if kind == 9:
        return ""
    if kind == 10:
        return code[:8] + "-" + code[8:]
    return code


def test_random_and_broken_codes_agree_with_the_scalar_check():
    rng = np.random.default_rng(20261122)
    codes = [make_credit_code(f"{rng.integers(110000, 660000):06d}", int(s), dept=d, kind=k)
             for s, d, k in zip(rng.integers(0, 2 * 10**8, 3000), rng.choice(list("91Y5N"), 3000),
                                rng.choice(list("123"), 3000))]
    values = [_broken(rng, c) for c in codes]
    # plus random strings of the alphabet: about one in 31 passes by chance
    values += ["".join(rng.choice(list(CREDIT_ALPHABET), 18)) for _ in range(3000)]
    values += [None, float("nan"), 12, b"91110000600037341L", "91110000600037341L", "91110000600037341l",
               ["9"] * 18, np.str_("91110000600037341L")]
    expected = [is_valid_credit_code(v) for v in values]
    assert are_valid_credit_codes(values).tolist() == expected
    assert are_valid_credit_codes(np.array(values, dtype=object)).tolist() == expected
    assert match_credit_code_shape(values).tolist() == [isinstance(v, str) and SHAPE.fullmatch(v) is not None
                                                        for v in values]
    assert 500 < sum(expected) < len(values) - 500  # both answers well represented


def test_every_single_character_change_is_judged_like_the_scalar_check():
    code = "91110000600037341L"
    values = [code[:p] + c + code[p + 1:] for p in range(18) for c in CREDIT_ALPHABET + "IOSVZa "]
    assert are_valid_credit_codes(values).tolist() == [is_valid_credit_code(v) for v in values]


def test_empty_input():
    assert are_valid_credit_codes([]).tolist() == []
    assert match_credit_code_shape(np.array([], dtype=object)).tolist() == []
    assert are_valid_credit_codes([None, None]).tolist() == [False, False]


def test_validation_statuses_match_the_scalar_check_on_a_large_register():
    """Above the size where the old code switched to a vectorised check (50,000 rows)."""
    rng = np.random.default_rng(7)
    n = 60_000
    codes = np.array([make_credit_code("419988", i) for i in range(n)], dtype=object)
    broken = rng.random(n) < 0.01
    codes[broken] = [c[:17] + CREDIT_ALPHABET[(CREDIT_ALPHABET.index(c[17]) + 1) % 31] for c in codes[broken]]
    lower = rng.random(n) < 0.01
    codes[lower] = [c.lower() for c in codes[lower]]
    frame = pd.DataFrame({"name": [f"甲{i}" for i in range(n)], "credit_code": codes},
                         index=pd.RangeIndex(2, n + 2, name="row"))
    good, rejected, warnings = validate_register(frame)
    assert not rejected
    failed = {w["row"] for w in warnings if w["reason"] == "credit_code_check"}
    # all-digit codes ending in 000 are suspect of an Excel cut even when their check passes
    zeroed = {row for row, c in zip(frame.index, codes) if c.isdigit() and c.endswith("000")}
    assert failed == {row for row, c in zip(frame.index, codes) if not is_valid_credit_code(c)} | zeroed
    assert failed == set(frame.index[broken]) | zeroed
    status = good["credit_code_status"]
    assert (status[list(failed)] == "check_failed").all()
    assert (status.drop(list(failed)) == "valid").all()
    normalised = good.loc[frame.index[lower], "credit_code"]
    assert (normalised == normalised.str.upper()).all() and normalised.str.len().eq(18).all()


# (cell text, expected headcount or None, warned and left out?) — as the per-value parse judged them.
COUNTS = [("12", 12, False), ("0012", 12, False), ("1,200", 1200, False), ("1，200", 1200, False),
          ("12人", 12, False), ("12 人", 12, False), ("无", None, False), ("暂无", None, False),
          ("/", None, False), ("nan", None, False), ("N/A", None, False), ("", None, False),
          ("0", 0, False), ("1e3", 1000, False), ("12.0", 12, False), ("+7", 7, False),
          ("１２", 12, False), ("约50人", 50, False), ("50人左右", 50, False), ("30余人", 30, False),
          ("-1", None, True), ("10.5", None, True), ("十个", None, True), ("abc", None, True),
          ("1_000", None, True), ("٣", None, True), ("3000000", None, True), ("inf", None, True),
          ("99999999999999999999999", None, True)]


def test_counts_are_parsed_per_distinct_value_like_one_by_one():
    texts = [t for t, _, _ in COUNTS] * 3  # repeated: each distinct text is parsed once
    frame = pd.DataFrame({"name": [f"甲{i}" for i in range(len(texts))], "headcount": texts},
                         index=pd.RangeIndex(2, len(texts) + 2, name="row"))
    good, rejected, warnings = validate_register(frame)
    assert rejected == [] and len(good) == len(texts)  # a bad count is left out, the row kept
    bad_rows = {p["row"] for p in warnings if p["reason"] == "bad_number"}
    for i, text in enumerate(texts):
        _, expected, bad = COUNTS[i % len(COUNTS)]
        row = i + 2
        assert (row in bad_rows) == bad, text
        value = good.at[row, "headcount"]
        assert (None if pd.isna(value) else int(value)) == expected, text
    assert good["headcount"].dtype == "Int64"


def _sample_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "name": pd.array([f"甲\t{i}\\" if i % 7 == 0 else f"乙{i}" for i in range(n)], dtype="string"),
        "headcount": pd.array([None if i % 5 == 0 else int(v) for i, v in enumerate(rng.integers(0, 50, n))],
                              dtype="Int64"),
        "lon": pd.array(rng.uniform(110, 115, n), dtype="Float64"),
        "opened_on": pd.to_datetime(np.datetime64("2020-01-01") + rng.integers(0, 900, n)),
        "key_flags": np.where(rng.random(n) < 0.5, None, "新开业"),
    })


def test_copy_stream_yields_the_same_text_as_one_piece():
    frame = _sample_frame(2_345)
    stream = _CopyStream(frame, rows=100)
    pieces = []
    while piece := stream.read(777):
        pieces.append(piece)
    stream.close()
    assert b"".join(pieces) == _copy_text(frame)
    assert b"\\t" in b"".join(pieces) and b"\\N" in b"".join(pieces)  # escapes and NULLs kept


def test_copy_stream_stops_its_thread_when_copy_stops_reading():
    stream = _CopyStream(_sample_frame(5_000), rows=10, ahead=1)
    assert stream.read(10)
    stream.close()  # as after a failed COPY: the producer must not wait forever on a full queue
    assert not stream.worker.is_alive()


def test_copy_stream_raises_a_formatting_error_in_the_reader():
    stream = _CopyStream(object())  # no len(): the producer thread fails at once
    try:
        with pytest.raises(TypeError):
            stream.read()
    finally:
        stream.close()
