"""A small feature behind sign-in: add, subtract, multiply or divide two numbers."""

from __future__ import annotations

from decimal import Decimal, DecimalException, DivisionByZero, InvalidOperation, localcontext

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from secure_auth.web.dependencies import require_user
from secure_auth.web.rendering import render

router = APIRouter(prefix="/calculator", dependencies=[Depends(require_user)])

OPERATORS = {"add": "+", "subtract": "−", "multiply": "×", "divide": "÷"}
MAX_INPUT_LENGTH = 40
MAX_MAGNITUDE = Decimal("1e15")
# Exponent bounds, checked on Decimal.adjusted() before any arithmetic: "1e1000000" or
# "1e-999999999" are short strings that would otherwise overflow or print a billion digits.
MAX_EXPONENT = 15
MIN_EXPONENT = -30


class CalculationError(ValueError):
    """A friendly message for the person, never a stack trace."""


def parse_number(raw: object, label: str) -> Decimal:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise CalculationError(f"Enter a number for {label[:1].lower() + label[1:]}.")
    if len(text) > MAX_INPUT_LENGTH:
        raise CalculationError(f"{label} is too long: use at most {MAX_INPUT_LENGTH} characters.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CalculationError(f"{label} is not a number.") from None
    if not value.is_finite():
        raise CalculationError(f"{label} must be a finite number.")
    if value.is_zero():
        return Decimal(0)
    if value.adjusted() > MAX_EXPONENT or abs(value) > MAX_MAGNITUDE:
        raise CalculationError(f"{label} is too large: keep numbers between -10^15 and 10^15.")
    if value.adjusted() < MIN_EXPONENT:
        raise CalculationError(f"{label} is too small: use at most 30 decimal places.")
    return value


def calculate(a: Decimal, b: Decimal, operator: str) -> Decimal:
    try:
        result = _apply(a, b, operator)
    except DecimalException:
        raise CalculationError("That calculation is out of range.") from None
    return result.normalize() if result != 0 else Decimal(0)


def _apply(a: Decimal, b: Decimal, operator: str) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 28
        ctx.traps[DivisionByZero] = True
        if operator == "add":
            result = a + b
        elif operator == "subtract":
            result = a - b
        elif operator == "multiply":
            result = a * b
        elif operator == "divide":
            if b == 0:
                raise CalculationError("Division by zero is not defined. Choose another second number.")
            result = a / b
        else:
            raise CalculationError("Choose one of the four operations.")
        return result


def format_number(value: Decimal) -> str:
    text = format(value, "f")
    return text if len(text) <= 60 else format(value, "e")


@router.get("")
async def calculator_form(request: Request) -> Response:
    return render(request, "calculator.html", {"operators": OPERATORS, "form": {}})


@router.post("")
async def calculator_submit(request: Request) -> Response:
    form = await request.form()
    values = {name: form.get(name) for name in ("a", "b", "operator")}
    context = {"operators": OPERATORS, "form": {k: v if isinstance(v, str) else "" for k, v in values.items()}}
    try:
        a = parse_number(values["a"], "The first number")
        b = parse_number(values["b"], "The second number")
        operator = values["operator"] if values["operator"] in OPERATORS else ""
        result = calculate(a, b, str(operator))
    except CalculationError as exc:
        return render(request, "calculator.html", {**context, "error": str(exc)}, status_code=400)
    expression = f"{format_number(a)} {OPERATORS[str(operator)]} {format_number(b)}"
    return render(request, "calculator.html", {**context, "expression": expression, "result": format_number(result)})
