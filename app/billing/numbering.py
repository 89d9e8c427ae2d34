"""Legal, gapless invoice numbers per (series, year).

The number is taken from a counter row locked with `SELECT … FOR UPDATE` inside the same
transaction that finalises the invoice: if that transaction rolls back, so does the bump, and
the next invoice gets the same number — no gap. Concurrent finalisers queue on the row lock.
"""

from __future__ import annotations

from typing import Any


async def next_number(connection: Any, series: str, year: int) -> int:
    await connection.execute(
        "INSERT INTO number_counter (id, series, year, next_number)"
        " VALUES (gen_random_uuid(), $1, $2, 1) ON CONFLICT (series, year) DO NOTHING",
        series,
        year,
    )
    number = await connection.fetchval(
        "UPDATE number_counter SET next_number = next_number + 1"
        " WHERE series = $1 AND year = $2 RETURNING next_number - 1",
        series,
        year,
    )
    return int(number)


def format_number(series: str, year: int, number: int) -> str:
    return f"{series}-{year}-{number:06d}"
