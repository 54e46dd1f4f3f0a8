"""The calculator's pure functions: parse_number, calculate, format_number."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app_routes.calculator import (
    MAX_INPUT_LENGTH,
    CalculationError,
    calculate,
    format_number,
    parse_number,
)


def compute(a: str, b: str, operator: str) -> str:
    return format_number(calculate(parse_number(a, "a"), parse_number(b, "b"), operator))


@pytest.mark.parametrize(
    ("a", "b", "operator", "expected"),
    [
        ("0.1", "0.2", "add", "0.3"),
        ("1.1", "2.2", "add", "3.3"),
        ("-1.5", "0.25", "add", "-1.25"),
        ("0.3", "0.1", "subtract", "0.2"),
        ("1.5", "1.5", "subtract", "0"),
        ("2", "5.5", "subtract", "-3.5"),
        ("1.5", "-2", "multiply", "-3"),
        ("0.1", "0.1", "multiply", "0.01"),
        ("100", "1", "multiply", "100"),
        ("1", "4", "divide", "0.25"),
        ("10", "4", "divide", "2.5"),
        ("-9", "3", "divide", "-3"),
        ("1", "3", "divide", "0.3333333333333333333333333333"),
        ("2", "3", "divide", "0.6666666666666666666666666667"),
        ("1e15", "1e15", "multiply", "1" + "0" * 30),
        (" 2.50 ", "0", "add", "2.5"),
        ("-0", "0", "add", "0"),
        ("0.000", "5", "multiply", "0"),
    ],
)
def test_four_operations(a, b, operator, expected):
    assert compute(a, b, operator) == expected


def test_calculate_returns_decimal_normalized():
    result = calculate(Decimal("2.50"), Decimal("0.50"), "add")
    assert isinstance(result, Decimal)
    assert str(result) == "3"
    assert calculate(Decimal("1"), Decimal("-1"), "add") == Decimal(0)
    assert str(calculate(Decimal("1.0"), Decimal("-1.0"), "add")) == "0"


@pytest.mark.parametrize("zero", ["0", "0.0", "-0", "0e5"])
def test_division_by_zero(zero):
    with pytest.raises(CalculationError, match="Division by zero"):
        calculate(Decimal("1"), parse_number(zero, "b"), "divide")
    with pytest.raises(CalculationError, match="Division by zero"):
        calculate(Decimal("0"), parse_number(zero, "b"), "divide")


@pytest.mark.parametrize("operator", ["", "modulo", "+", "ADD", "power", None])
def test_unknown_operator(operator):
    with pytest.raises(CalculationError, match="Choose one of the four operations"):
        calculate(Decimal("1"), Decimal("2"), operator)


@pytest.mark.parametrize("raw", ["abc", "1,5", "1 2", "0x10", "--1", "1..2", "½", "1e", "e5", "+-3"])
def test_non_numbers(raw):
    with pytest.raises(CalculationError, match=r"^The first number is not a number\.$"):
        parse_number(raw, "The first number")


@pytest.mark.parametrize("raw", ["NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-Inf"])
def test_non_finite(raw):
    with pytest.raises(CalculationError, match="must be a finite number"):
        parse_number(raw, "x")


@pytest.mark.parametrize(
    "raw", ["1e999999", "-1e999999", "1000000000000001", "1e16", "-1000000000000000.1", "1000000000000000.5"]
)
def test_too_large(raw):
    with pytest.raises(CalculationError, match="too large"):
        parse_number(raw, "x")


@pytest.mark.parametrize("raw", ["1e15", "-1e15", "1000000000000000", "999999999999999.999"])
def test_magnitude_limit_is_inclusive(raw):
    assert abs(parse_number(raw, "x")) <= Decimal("1e15")


def test_over_long_input():
    longest = "0." + "1" * (MAX_INPUT_LENGTH - 2)
    assert len(longest) == MAX_INPUT_LENGTH
    assert parse_number(longest, "x") == Decimal(longest)
    with pytest.raises(CalculationError, match="too long"):
        parse_number("1" + longest, "x")
    with pytest.raises(CalculationError, match="too long"):
        parse_number("9" * 10_000, "x")


def test_length_is_measured_after_stripping():
    padded = "   " + "0" * (MAX_INPUT_LENGTH - 1) + "7" + "   "
    assert len(padded) > MAX_INPUT_LENGTH
    assert parse_number(padded, "x") == Decimal(7)


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", None, 5, Decimal("5"), b"5"])
def test_empty_or_not_text(raw):
    with pytest.raises(CalculationError, match=r"^Enter a number for the second number\.$"):
        parse_number(raw, "the second number")


def test_parse_number_values():
    assert parse_number("  -12.5 ", "x") == Decimal("-12.5")
    assert parse_number("+3", "x") == Decimal(3)
    assert parse_number("1e3", "x") == Decimal(1000)
    assert parse_number(".5", "x") == Decimal("0.5")


def test_calculation_error_is_a_value_error():
    assert issubclass(CalculationError, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1E+2"), "100"),
        (Decimal("0.25"), "0.25"),
        (Decimal("-3"), "-3"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("1E+30"), "1" + "0" * 30),
        (Decimal("1E-70"), "1e-70"),  # fixed notation would exceed 60 characters
        (Decimal("1E+70"), "1e+70"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


# ----- exponents far outside the range are refused before any arithmetic -----


@pytest.mark.parametrize("raw", ["1e1000000", "-9e999999999"])
def test_huge_exponent_is_a_calculation_error(raw):
    with pytest.raises(CalculationError):
        parse_number(raw, "x")


def test_tiny_numbers_are_refused_so_division_cannot_overflow():
    with pytest.raises(CalculationError, match="too small"):
        parse_number("1e-999999", "b")
    smallest = parse_number("1e-30", "b")
    assert calculate(Decimal(10), smallest, "divide") == Decimal("1e31")


def test_tiny_exponent_is_refused():
    with pytest.raises(CalculationError, match="too small"):
        parse_number("1e-999999999999999999", "x")
