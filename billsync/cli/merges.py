"""``billsync merges``: records Salesforce merged away, and contact links Salesforce ended, whose
LogiSense records billsync keeps (it deletes nothing in LogiSense).

Read-only: it never creates a store (a SQLite file that does not exist is exit 3, not an empty
listing). The store and the workers are imported inside the command, so that ``--help`` stays
fast.
"""

from __future__ import annotations

import typer

from billsync.cli.common import console, emit_json, guarded, store_of, table
from billsync.cli.filters import JsonOption


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""

    @app.command()
    @guarded
    def merges(ctx: typer.Context, as_json: JsonOption = False) -> None:
        """Merged accounts and contacts (with the winner), and ended links kept in LogiSense."""
        from workers.sync.merges import kept_links, merged

        sessions = store_of(ctx)
        losers, kept = merged(sessions), kept_links(sessions)
        if as_json:
            emit_json(
                {
                    "merged": [
                        {
                            "object": m.object,
                            "loser": m.loser,
                            "loser_logisense_id": m.loser_logisense_id,
                            "winner": m.winner,
                            "winner_logisense_id": m.winner_logisense_id,
                        }
                        for m in losers
                    ],
                    "kept_links": [
                        {
                            "contact": k.contact,
                            "contact_logisense_id": k.contact_logisense_id,
                            "accounts": list(k.accounts),
                        }
                        for k in kept
                    ],
                }
            )
            return
        console.print(
            table(
                "merged in Salesforce (their LogiSense records stay)",
                ("object", "merged record", "its LogiSense id", "winner", "winner's LogiSense id"),
                [
                    (m.object, m.loser, m.loser_logisense_id, m.winner, m.winner_logisense_id)
                    for m in losers
                ],
            )
        )
        console.print(
            table(
                "relations ended in Salesforce, still linked in LogiSense (no other link remains)",
                ("contact", "LogiSense contact", "LogiSense accounts"),
                [
                    (k.contact, k.contact_logisense_id, ", ".join(map(str, k.accounts)))
                    for k in kept
                ],
            )
        )
