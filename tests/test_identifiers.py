"""Check characters of 统一社会信用代码 (GB 32100-2015) and 组织机构代码 (GB 11714)."""

import pytest

from gisgrid.employers.identifiers import (
    CREDIT_ALPHABET,
    credit_code_check_char,
    is_valid_credit_code,
    is_valid_org_code,
    make_credit_code,
    org_code_check_char,
)

KNOWN_VALID = "91110000600037341L"


def test_known_code_is_valid():
    assert is_valid_credit_code(KNOWN_VALID)
    assert credit_code_check_char(KNOWN_VALID[:17]) == "L"


@pytest.mark.parametrize("position", range(18))
def test_one_changed_character_fails(position):
    original = KNOWN_VALID[position]
    replacement = CREDIT_ALPHABET[(CREDIT_ALPHABET.index(original) + 1) % len(CREDIT_ALPHABET)]
    changed = KNOWN_VALID[:position] + replacement + KNOWN_VALID[position + 1:]
    assert not is_valid_credit_code(changed)


@pytest.mark.parametrize("text", ["91110000600037341l", " 91110000600037341L\n", "\t91110000600037341l "])
def test_lower_case_and_spaces_are_normalised(text):
    assert is_valid_credit_code(text)


@pytest.mark.parametrize("text", ["", "91110000600037341", "91110000600037341LL", "9111000060003734-1L"])
def test_wrong_length_or_symbols_fail(text):
    assert not is_valid_credit_code(text)


@pytest.mark.parametrize("letter", "IOSVZ")
def test_forbidden_letters_fail(letter):
    assert not is_valid_credit_code(KNOWN_VALID[:10] + letter + KNOWN_VALID[11:])
    with pytest.raises(ValueError, match=f"has '{letter}' at position 11; allowed characters are {CREDIT_ALPHABET}"):
        credit_code_check_char(KNOWN_VALID[:10] + letter + KNOWN_VALID[11:17])


def test_check_char_of_wrong_length_says_what_was_given():
    with pytest.raises(ValueError, match=r"first17 was '9111' \(4 characters\); expected exactly 17"):
        credit_code_check_char("9111")


@pytest.mark.parametrize("value", [None, 91110000600037341, b"91110000600037341L"])
def test_values_that_are_not_text_are_invalid(value):
    assert not is_valid_credit_code(value)
    assert not is_valid_org_code(value)


@pytest.mark.parametrize("first", ["A", "N", "Y", "1", "5", "9"])
def test_first_characters_a_n_y_are_accepted(first):
    # stdnum rejects A, N (village collectives) and Y; GB 32100 allows them.
    first17 = first + KNOWN_VALID[1:17]
    assert is_valid_credit_code(first17 + credit_code_check_char(first17))


@pytest.mark.parametrize("code", ["60003734-1", "600037341", "60003734-1 ".lower(), "D2143569-X".lower()])
def test_known_org_codes_are_valid(code):
    assert is_valid_org_code(code)


@pytest.mark.parametrize("code", ["60003734-2", "6000373-41", "600037341X", "60003734_1", "6000$734-1"])
def test_bad_org_codes_fail(code):
    assert not is_valid_org_code(code)


def test_org_check_values_ten_and_eleven():
    # Σ mod 11 = 1 → value 10 → X;  Σ mod 11 = 0 → value 11 → 0.
    assert org_code_check_char("D2143569") == "X"
    assert org_code_check_char("00000000") == "0"


def test_org_check_char_refuses_symbols():
    with pytest.raises(ValueError, match="has '-' at position 4"):
        org_code_check_char("600-3734")


@pytest.mark.parametrize("serial", [0, 1, 2, 3, 999, 1_000, 123_457, 10**8 - 1, 2 * 10**8 - 1])
@pytest.mark.parametrize("kind", ["1", "2"])
def test_made_codes_are_valid_at_both_levels(serial, kind):
    code = make_credit_code("419901", serial, kind=kind)
    assert len(code) == 18
    assert code[:8] == "9" + kind + "419901"
    assert is_valid_credit_code(code)
    assert is_valid_org_code(code[8:17])
    assert not set(code) & set("IOSVZ")


def test_made_codes_are_unique_and_deterministic():
    codes = [make_credit_code("419901", serial) for serial in range(20_000)]
    assert len(set(codes)) == len(codes)
    assert codes == [make_credit_code("419901", serial) for serial in range(20_000)]


def test_odd_serials_give_post_2015_ma_codes():
    assert make_credit_code("419901", 7)[8:10] == "MA"
    assert make_credit_code("419901", 8)[8:17].isdigit()


@pytest.mark.parametrize(("arguments", "message"), [
    (("4199", 1), "region6 was '4199'; expected 6 digits"),
    (("41990A", 1), "region6 was '41990A'"),
    (("419901", -1), "serial was -1; expected an integer from 0 to 199999999"),
    (("419901", 2 * 10**8), "serial was 200000000"),
    (("419901", 1.0), "serial was 1.0"),
    (("419901", 1, "I"), "dept was 'I'; expected one character of " + CREDIT_ALPHABET),
    (("419901", 1, "9", "12"), "kind was '12'"),
])
def test_make_credit_code_refuses_bad_input(arguments, message):
    with pytest.raises(ValueError, match=message):
        make_credit_code(*arguments)
