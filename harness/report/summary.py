"""Human-readable summaries (rich tables) of runs."""

from __future__ import annotations

from rich.table import Table

from harness.demo import DemoSummary

MAX_ROWS = 25


def summary_table(summary: DemoSummary) -> Table:
    table = Table(
        title=(f"s1lab demo: {summary.installations} × {summary.dmc} ({summary.group_id}), "
               f"{summary.days:g} days from {summary.start[:10]}, seed {summary.seed}"),
        caption=(f"{summary.handshakes} TLS handshakes, {summary.requests} WAN requests, "
                 f"{summary.errors} errors, {summary.top_ups_accepted} top-ups accepted, "
                 f"{summary.top_ups_rejected} refused, "
                 f"{summary.supply_interruptions} supply interruptions"),
    )
    for name, justify in [("inst", "left"), ("CHF", "left"), ("mode", "left"),
                          ("import kWh", "right"), ("gas m³", "right"),
                          ("balance £", "right"), ("supply", "left"), ("reads", "right"),
                          ("top-ups", "right"), ("refused", "right"), ("TLS", "left")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = summary.per_installation
    for row in rows[:MAX_ROWS]:
        table.add_row(
            row.installation, row.chf, row.payment_mode, f"{row.import_kwh:.3f}",
            "-" if row.gas_m3 is None else f"{row.gas_m3:.3f}",
            f"{row.balance_pence / 100:.2f}", row.supply, str(row.reads),
            str(row.top_ups_accepted), str(row.top_ups_rejected), row.tls,
        )
    if len(rows) > MAX_ROWS:
        table.add_row(f"… {len(rows) - MAX_ROWS} more in summary.json", *[""] * 10)
    return table
