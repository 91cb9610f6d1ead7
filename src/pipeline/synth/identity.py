"""Plausible fake patient identities, as a PACS would hold them (all invented).

Names include non-ASCII letters, apostrophes and hyphens (written as UTF-8, ISO_IR 192), so the
anonymizer and every log line downstream meet the identities real exports carry.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

import numpy as np

from pipeline.synth.dicom_writer import PatientIdentity

LAST_NAMES = (
    "Müller", "Ångström", "Smith", "García", "O'Brien", "Nguyễn", "Kowalski", "Rossi", "Dubois",
    "Ødegård", "Papadopoulos", "Tanaka", "Schmidt-Weber", "Johansson", "Fernández", "Novák",
    "Yılmaz", "Brown", "Martin", "Kim", "Silva", "Jensen", "van der Berg", "Horváth", "Lefèvre",
    "Ó Súilleabháin", "Wójcik", "Andersson", "Costa", "Schäfer",
)
FIRST_NAMES_F = ("Zoë", "Renée", "Anna", "Maria", "Ingrid", "Sofía", "Chloé", "Aiko", "Hanna",
                 "Agnieszka", "Mette", "Élise", "Margaret", "Linh", "Júlia")
FIRST_NAMES_M = ("José", "Björn", "Jürgen", "Piotr", "Luca", "François", "Kenji", "Seán", "Ömer",
                 "Thomas", "Lars", "Minh", "Miguel", "Dmitri", "Henrik")
INSTITUTIONS = (
    ("St. Aurelia General Hospital", "14 Harbour Road^^Port Elwyn^^PE4 7QT^UK"),
    ("Nordlicht Universitätsklinikum", "Lindenallee 3^^Kleinfelden^^34567^DE"),
    ("Hôpital Saint-Éloi de Valmont", "8 rue des Tilleuls^^Valmont-sur-Loire^^49123^FR"),
    ("Riverside Community Medical Center", "2200 W River Dr^^Millbrook^OH^45011^US"),
    ("Kyōwa Memorial Hospital", "3-7-1 Sakuragaoka^^Minami-ku^^812-0011^JP"),
    ("Clínica Santa Lucía", "Av. del Parque 455^^San Marcos^^28790^ES"),
)
STATIONS = ("CTAWP{n}", "CT{n}SCAN", "RAD-CT{n}", "HOSPCT{n}", "CT_SUITE_{n}")


def ascii_fold(text: str) -> str:
    """``Müller`` -> ``Muller``: what PACS exports put in folder names."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if c.isalnum() else "_" for c in folded).strip("_")


def _person_name(rng: np.random.Generator, prefix: str = "") -> str:
    last = str(rng.choice(LAST_NAMES))
    first = str(rng.choice(FIRST_NAMES_F + FIRST_NAMES_M))
    return f"{last}^{first}^^{prefix}" if prefix else f"{last}^{first}"


def make_identity(rng: np.random.Generator, patient_id: str) -> PatientIdentity:
    """Draw one fake identity (PS3.3 C.7.1.1 Patient, C.7.2.1 Study, C.7.5.1 Equipment modules).

    ``patient_id`` is chosen by the caller so that it is unique within the cohort.
    """
    sex = "F" if rng.random() < 0.5 else "M"
    first = str(rng.choice(FIRST_NAMES_F if sex == "F" else FIRST_NAMES_M))
    last = str(rng.choice(LAST_NAMES))
    name = f"{last.upper()}^{first}" if rng.random() < 0.5 else f"{last}^{first}"
    if rng.random() < 0.3:
        name += f"^{str(rng.choice(FIRST_NAMES_F if sex == 'F' else FIRST_NAMES_M))}"
    study = dt.date(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 16 * 365)))
    age = int(rng.integers(45, 86))
    birth = study - dt.timedelta(days=age * 365 + int(rng.integers(0, 365)))
    age_years = (study - birth).days // 365
    institution, address = INSTITUTIONS[int(rng.integers(len(INSTITUTIONS)))]
    station = str(rng.choice(STATIONS)).format(n=int(rng.integers(1, 99)))
    accession = f"{int(rng.integers(10**9, 10**10))}" if rng.random() < 0.5 else \
        f"ACC{int(rng.integers(10**7, 10**8))}"
    other = (f"MRN{int(rng.integers(10**6, 10**7))}",) if rng.random() < 0.6 else ()
    phone = (f"+{int(rng.integers(1, 99))} {int(rng.integers(100, 999))} "
             f"{int(rng.integers(10**5, 10**6))}")
    return PatientIdentity(
        patient_name=name,
        patient_id=patient_id,
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
        age=f"{age_years:03d}Y",
        accession_number=accession,
        study_date=study.strftime("%Y%m%d"),
        study_time=f"{int(rng.integers(7, 19)):02d}{int(rng.integers(60)):02d}"
                   f"{int(rng.integers(60)):02d}",
        institution_name=institution,
        institution_address=address,
        referring_physician=_person_name(rng, "Dr."),
        performing_physician=_person_name(rng, "Dr."),
        operator_name=_person_name(rng),
        station_name=station,
        device_serial=f"{int(rng.integers(10**4, 10**6))}",
        other_patient_ids=other,
        extra={"PatientAddress": f"{int(rng.integers(1, 200))} {last} Street^^"
                                 f"{address.split('^')[2]}",
               "PatientTelephoneNumbers": phone},
    )


def make_patient_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct hospital-style patient IDs: 7 digits after an optional prefix."""
    numbers = rng.choice(np.arange(10**6, 10**7), size=n, replace=False)
    prefixes = rng.choice(np.array(["", "P", "LN", "0"]), size=n)
    return [f"{p}{int(k):07d}" for p, k in zip(prefixes, numbers, strict=True)]
