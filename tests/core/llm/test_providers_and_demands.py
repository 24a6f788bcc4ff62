# SPDX-License-Identifier: Apache-2.0
"""Model access in the core (issue 14): card demands, providers and their keys, matching, grants."""

from __future__ import annotations

import pytest

from keybroker.core.a2a.card import parse_card
from keybroker.core.a2a.card_fetch import FetchedCard
from keybroker.core.a2a.model_demand import EMBEDDING_EXTENSION_URI, LLM_EXTENSION_URI
from keybroker.core.agents.registry import record_from_card
from keybroker.core.errors import InvalidCardError, InvalidInputError
from keybroker.core.llm.matching import options_for
from keybroker.core.llm.providers import ProviderBook
from keybroker.core.models import ModelDemand, SecretValue
from keybroker.core.secrets.leftovers import find_leftovers
from keybroker.wiring.services import Services
from tests.core.conftest import make_card

KEY = "sk-CANARY-provider-0123456789"


def model_card(**llm: object) -> dict[str, object]:
    card = make_card("Model Agent")
    card["capabilities"]["extensions"] += [  # type: ignore[index]
        {"uri": LLM_EXTENSION_URI, "params": {"llm_demands": {"default": llm}}},
        {
            "uri": EMBEDDING_EXTENSION_URI,
            "params": {"embedding_demands": {"index": {"suggested": ["openai/text-embedding-3-small"]}}},
        },
    ]
    return card


def test_card_demands_are_parsed_and_survive_the_catalog(services: Services) -> None:
    data = model_card(description="Answers", suggested=["openai/gpt-4o", "ollama/llama3.1"])
    parsed = parse_card(data)
    assert parsed.model_demands == (
        ModelDemand("llm", "default", "Answers", ("openai/gpt-4o", "ollama/llama3.1")),
        ModelDemand("embedding", "index", None, ("openai/text-embedding-3-small",)),
    )
    fetched = FetchedCard(base_url="http://127.0.0.1:9999", card_url="x", data=data, parsed=parsed)
    services.catalog.upsert_agent(record_from_card(fetched, slug="m", now=0.0))
    assert services.catalog.get_agent("m").model_demands == parsed.model_demands


@pytest.mark.parametrize(
    "llm",
    [
        {"description": "Use \x1b[2Kthis"},  # a terminal escape to disguise the prompt
        {"suggested": ["x"] * 0 + [f"m/{i}" for i in range(40)]},  # floods the picker
        {"suggested": "openai/gpt-4o"},  # not a list
    ],
    ids=["control", "flood", "shape"],
)
def test_hostile_model_demands_are_refused_naming_the_field(llm: dict[str, object]) -> None:
    with pytest.raises(InvalidCardError, match="llm_demands"):
        parse_card(model_card(**llm))


def test_provider_key_lives_in_the_vault_only(services: Services) -> None:
    book = ProviderBook(services.catalog, services.vault, services.audit)
    provider = book.add("openai", None, SecretValue(KEY), preset_name="openai")
    assert provider.base_url == "https://api.openai.com/v1"
    assert provider.key_account is not None
    assert book.key(provider) == SecretValue(KEY)
    assert KEY not in repr(provider)
    assert KEY.encode() not in services.paths.catalog_db.read_bytes()
    assert not any(KEY in str(e) for e in services.audit.events())
    # The key is accounted for: no leftover to repair.
    assert provider.key_account not in find_leftovers(services.catalog, services.vault).accounts
    book.remove("openai")
    assert services.vault.get(provider.key_account) is None
    assert book.all() == []


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://models.example.com/v1", KEY),  # a key in clear over the network
        ("ftp://127.0.0.1/v1", None),
        ("https://user:pw@example.com/v1", None),
        ("not a url", None),
    ],
)
def test_bad_base_urls_are_refused_and_nothing_is_stored(
    services: Services, url: str, key: str | None
) -> None:
    book = ProviderBook(services.catalog, services.vault, services.audit)
    with pytest.raises(InvalidInputError):
        book.add("p", url, SecretValue(key) if key else None)
    assert book.all() == []


def test_local_server_needs_no_key_and_plain_http_on_loopback_is_fine(services: Services) -> None:
    book = ProviderBook(services.catalog, services.vault, services.audit)
    assert book.add("ollama", None, None, preset_name="ollama").key_account is None
    assert (
        book.add("lan", "http://127.0.0.1:8080/v1/", SecretValue(KEY)).base_url == "http://127.0.0.1:8080/v1"
    )


def test_best_match_comes_first_and_every_model_stays_offered(services: Services) -> None:
    book = ProviderBook(services.catalog, services.vault, services.audit)
    book.add("openai", None, SecretValue(KEY), preset_name="openai")
    book.set_models("openai", ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"])
    book.add("router", None, SecretValue(KEY), preset_name="openrouter")
    book.set_models("router", ["openai/gpt-4o", "meta/llama"])
    book.add("ollama", None, None, preset_name="ollama")
    book.set_models("ollama", ["llama3.1"])
    demand = ModelDemand("llm", "default", None, ("ollama/llama3.1", "openai/gpt-4o"))
    labels = [o.label for o in options_for(demand, book.all())]
    assert labels[:3] == ["ollama/llama3.1", "openai/gpt-4o", "router/openai/gpt-4o"]
    assert set(labels) == {
        "ollama/llama3.1",
        "openai/gpt-4o",
        "router/openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/text-embedding-3-small",
        "router/meta/llama",
    }
    embedding = ModelDemand("embedding", "index", None, ("voyage/voyage-3",))
    assert options_for(embedding, book.all())[0].label == "openai/text-embedding-3-small"
