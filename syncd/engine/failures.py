"""What a failed calendar write means, in the words a room coordinator reads on the dashboard.

The outbox keeps the last error of every write that has not succeeded; coordinators see it
beside a "Prøv igen" button. So the text says, in Danish, what went wrong and what to do, and
keeps the backend's own words (for IT) after it. Nothing here repeats a CPR number: the render
guard names the field, never its value, and the dashboard redacts anything shaped like one.
"""

from __future__ import annotations

from connectors.base import (
    ConnectorError,
    NotFound,
    NotOwned,
    PermissionDenied,
    Throttled,
    WriteConflict,
)
from mappings.render import RenderRefused

MAX_TEXT = 2000

# Where each text the calendar would show comes from, and so where to correct it.
_FIELDS = {
    "type_title": "samtaletypens titel (konfigurationen, [[conversation_types]])",
    "room_name": "lokalets navn (lokalelisten)",
    "site_name": "adressens navn (konfigurationen, [[sites]])",
    "room_email": "lokalets e-mailadresse (lokalelisten)",
    "booking_reference": "bookingreferencen",
    "citizen_name": "borgerens navn (fra selvbookingen)",
    "external_id": "samtalens kalender-id",
    "rules": "en tekst i kalenderreglerne (sync.rules_file)",
}


def describe(exc: BaseException) -> str:
    """The Danish text stored as the outbox entry's last error."""
    detail = f"{exc.__class__.__name__}: {exc}"
    if isinstance(exc, RenderRefused):
        where = _FIELDS.get(exc.field, exc.field)
        text = (
            f"Samtalen blev ikke skrevet i kalenderen: {where} ligner et CPR-nummer, og det må "
            "aldrig stå i en kalender. Ret teksten, og tryk derefter 'Prøv igen'."
        )
        return text  # the whole story: the field is named, its value is never repeated
    elif isinstance(exc, NotOwned):
        text = (
            "En aftale, som syncd ikke selv har oprettet, ligger hvor samtalen skulle stå; syncd "
            "rører den ikke. Slet eller flyt aftalen i kalenderen, og tryk derefter 'Prøv igen'."
        )
    elif isinstance(exc, Throttled):
        text = (
            "Kalenderserveren bad syncd om at vente (for mange forespørgsler). syncd prøver "
            f"selv igen om {max(1, round(exc.retry_after))} sekunder; du behøver ikke gøre noget."
        )
    elif isinstance(exc, PermissionDenied):
        text = (
            "syncd har ikke lov til at skrive i kalenderen. Bed IT give tjenestekontoen "
            "skriveadgang, og tryk derefter 'Prøv igen'."
        )
    elif isinstance(exc, NotFound):
        text = (
            "Kalenderen findes ikke (længere) på serveren. Bed IT rette kalenderens adresse i "
            "konfigurationen, og tryk derefter 'Prøv igen'."
        )
    elif isinstance(exc, WriteConflict):
        text = (
            "Aftalen blev ændret i kalenderen samtidig med syncd. syncd læser den igen og prøver "
            "selv igen; tryk 'Prøv igen', hvis det ikke lykkes."
        )
    elif isinstance(exc, ConnectorError):
        text = (
            "Kalenderserveren kunne ikke nås eller svarede med en fejl. syncd prøver selv igen; "
            "kontakt IT, hvis fejlen bliver ved."
        )
    else:
        text = (
            "Uventet fejl i syncd under skrivning til kalenderen. syncd prøver selv igen; "
            "kontakt IT med teksten herunder, hvis fejlen bliver ved."
        )
    return f"{text} (Teknisk: {detail})"[:MAX_TEXT]
