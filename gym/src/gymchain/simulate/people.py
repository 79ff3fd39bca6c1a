"""Units, areas, plans, members and logins of the demo chain."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

UNITS = (("SP-PAULISTA", "Gymchain Paulista", "São Paulo", 900),
         ("RJ-BOTAFOGO", "Gymchain Botafogo", "Rio de Janeiro", 650),
         ("BH-SAVASSI", "Gymchain Savassi", "Belo Horizonte", 450))  # code, name, city, members
AREAS = (("Recepção", "reception", 80), ("Musculação", "weights", 90), ("Cardio", "cardio", 50),
         ("Estúdio", "studio", 25), ("Funcional", "functional", 30))
POOL = ("Piscina", "pool", 30)  # only the first unit has one
PLANS = (("BASICO", "Básico", 9990, None, False), ("PLUS", "Plus (3 aulas/semana)", 14990, 3, False),
         ("BLACK", "Black (toda a rede)", 19990, None, True))
FIRST = ("Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
         "Karina", "Lucas", "Mariana", "Nicolas", "Olívia", "Pedro", "Rafaela", "Samuel", "Tatiane", "Vinícius",
         "Beatriz", "Caio", "Larissa", "Mateus", "Letícia", "Gustavo", "Camila", "Rodrigo", "Juliana", "Thiago")
LAST = ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
        "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa")
DEMO_PASSWORD = "gym-demo-2026"
DOMAIN = "gymchain.example.com"


@dataclass(frozen=True)
class Person:
    unit_index: int
    full_name: str
    email: str
    cpf: str
    phone: str
    birth_date: date
    camera_consent: bool
    joined: date  # contract start
    churned: date | None  # contract ended early (the member left), or None
    visits_per_week: float
    class_lover: bool  # books classes rather than free training
    plan_index: int


def cpf_from(number: int) -> str:
    """A valid CPF from 9 digits (check digits computed as the Receita Federal defines them)."""
    digits = [int(c) for c in f"{number % 10**9:09d}"]
    if len(set(digits)) == 1:
        digits[0] = (digits[0] + 1) % 10
    for n in (9, 10):
        total = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True))
        digits.append(total * 10 % 11 % 10)
    return "".join(map(str, digits))


def ascii_slug(text: str) -> str:
    """'João' -> 'joao': e-mail local parts without accents."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def make_person(rng: random.Random, index: int, unit_index: int, today: date) -> Person:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    joined = today - timedelta(days=rng.randint(0, 700))
    churned = None
    if rng.random() < 0.18 and (today - joined).days > 60:
        churned = joined + timedelta(days=rng.randint(30, (today - joined).days - 1))
    return Person(unit_index=unit_index, full_name=f"{first} {last}",
                  email=f"{ascii_slug(first)}.{ascii_slug(last)}.{index}@{DOMAIN}",
                  cpf=cpf_from(100_000_000 + index * 7919), phone=f"+55 11 9{rng.randint(1000, 9999)}-"
                  f"{rng.randint(1000, 9999)}", birth_date=today - timedelta(days=rng.randint(16 * 365, 70 * 365)),
                  camera_consent=rng.random() < 0.6, joined=joined, churned=churned,
                  visits_per_week=min(6.0, rng.gammavariate(2.2, 1.1)), class_lover=rng.random() < 0.35,
                  plan_index=rng.choices((0, 1, 2), weights=(55, 30, 15))[0])


def make_people(rng: random.Random, today: date, scale: float = 1.0) -> list[Person]:
    """Everyone of the chain (2,000 at scale 1; tests use a small scale)."""
    people = []
    for unit_index, (_code, _name, _city, count) in enumerate(UNITS):
        people += [make_person(rng, len(people) + i, unit_index, today) for i in range(max(1, round(count * scale)))]
    return people


def staff_logins() -> list[tuple[str, str, int | None]]:
    """(e-mail, role, unit index) of the demo staff: one admin, and per unit a manager and two trainers."""
    logins = [(f"admin@{DOMAIN}", "admin", None)]
    for unit_index, (code, *_rest) in enumerate(UNITS):
        tag = code.split("-")[0].lower()
        logins.append((f"gerente.{tag}@{DOMAIN}", "manager", unit_index))
        logins += [(f"treinador{n}.{tag}@{DOMAIN}", "trainer", unit_index) for n in (1, 2)]
    return logins
