#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Pictures of the model prompt and the Settings → Models tab (issue 14), for the README.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_models.py OUT_DIR

Both are the real widgets over a real catalog in a throw-away home (memory vault): two providers
with the models their `GET /models` would list, an agent demanding a chat and an embedding model, a
model grant and some use. Writes `16-model-prompt.png` and `17-models-tab.png`.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "desktop"))

# ruff: noqa: E402, TID251 - a Qt script that sets its path first
from PySide6.QtWidgets import QApplication

from keybroker.core.a2a.model_provider import HttpModelProvider
from keybroker.core.admin import LocalAdmin
from keybroker.core.broker.prompts import SCOPE_ORDER, ModelItem, PromptRequest
from keybroker.core.llm.admin import LocalModelAdmin
from keybroker.core.llm.matching import options_for
from keybroker.core.llm.providers import ProviderBook
from keybroker.core.llm.usage import Tokens, UsageBook
from keybroker.core.models import AgentRecord, GrantScope, ModelDemand, SecretValue
from keybroker.core.vault.vault import open_vault
from keybroker.ui.events import AppEvents
from keybroker.ui.prompt_dialog import PromptDialog
from keybroker.ui.settings.asker import QtAsker
from keybroker.ui.settings.context import TabContext
from keybroker.ui.settings.jobs import JobRunner
from keybroker.ui.settings.models_tab import ModelsTab
from keybroker.wiring.services import Services, open_services

AGENT = AgentRecord(
    slug="research",
    url="http://127.0.0.1:8123",
    card_url="http://127.0.0.1:8123/.well-known/agent-card.json",
    name="Research Assistant",
    description="",
    protocol_versions=("0.3",),
    fingerprint="a" * 64,
    model_demands=(
        ModelDemand("llm", "default", "Reads the papers and writes the summary", ("openai/gpt-4o",)),
        ModelDemand("embedding", "index", "Indexes the papers", ("openai/text-embedding-3-small",)),
    ),
)


class Facade:
    """What the tab needs of `Runtime`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.options = type("Options", (), {"port": 7411})()
        self.paths = services.paths

    def admin(self, caller: str | None) -> LocalAdmin:
        return LocalAdmin(self.services, caller=caller, port=lambda: 7411)

    def model_admin(self, caller: str | None) -> LocalModelAdmin:
        svc = self.services
        return LocalModelAdmin(
            catalog=svc.catalog, vault=svc.vault, audit=svc.audit, client=HttpModelProvider(), caller=caller
        )

    def status(self) -> dict[str, object]:
        return {"port": 7411}


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(["keybroker"])
    app.setApplicationDisplayName("Keybroker")
    with tempfile.TemporaryDirectory(prefix="kb-shots-") as home:
        services = open_services(environ={"KEYBROKER_HOME": home}, vault=open_vault("memory"))
        try:
            facade = Facade(services)
            admin = facade.model_admin("screenshots")
            admin.add_provider(
                "openai",
                None,
                SecretValue("sk-not-a-real-key"),
                preset="openai",
                handover=True,
                refresh=False,
            )
            admin.add_provider("ollama", None, None, preset="ollama", refresh=False)
            books = ProviderBook(services.catalog, services.vault, services.audit)  # what GET /models lists
            books.set_models("openai", ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"])
            books.set_models("ollama", ["llama3.1", "nomic-embed-text"])
            providers = books.all()
            items = tuple(
                ModelItem(
                    d.ref, d.kind, d.name, d.description, d.suggested, options_for(d, providers), reason
                )
                for d, reason in zip(
                    AGENT.model_demands,
                    (
                        "best match for openai/gpt-4o: openai/gpt-4o",
                        "best match: openai/text-embedding-3-small",
                    ),
                    strict=True,
                )
            )
            now = services.catalog.clock.now()
            request = PromptRequest(
                prompt_id="pr_shot",
                agent=AGENT,
                items=(),
                phase="preflight",
                task_id=None,
                context_id="ctx-7f3a",
                caller="python3 (pid 4242)",
                scopes=tuple(s for s in SCOPE_ORDER if s != GrantScope.TASK),
                models=items,
                created=now,
                deadline=now + 120,
                timeout=120,
            )
            dialog = PromptDialog(request, guard_ms=0)
            dialog.show()
            app.processEvents()
            dialog.grab().save(str(out / "16-model-prompt.png"))
            dialog.close()

            services.catalog.upsert_agent(replace(AGENT))
            admin.allow("research", "openai", "gpt-4o", demand="default")
            UsageBook(services.catalog).record(
                "research", "openai", "gpt-4o", Tokens.of({"total_tokens": 5310})
            )
            ctx = TabContext(runtime=facade, events=AppEvents(), jobs=JobRunner(), asker=QtAsker())  # type: ignore[arg-type]
            tab = ModelsTab(ctx)
            tab.resize(900, 620)
            tab.show()
            tab.refresh_now()
            app.processEvents()
            tab.grab().save(str(out / "17-models-tab.png"))
            tab.close()
            ctx.jobs.close(wait=True)
        finally:
            services.close()
    print(f"screenshots: wrote 16-model-prompt.png and 17-models-tab.png to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
