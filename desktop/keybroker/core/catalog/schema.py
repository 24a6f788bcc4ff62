# SPDX-License-Identifier: Apache-2.0
"""The catalog's tables, as migrations: each entry runs once, in order (`PRAGMA user_version` counts).

Never edit a migration that has shipped; add one. Columns of the record tables carry the names of
their records' fields (core/catalog/rows.py maps them by name).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE agents (
        slug TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        card_url TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        protocol_versions TEXT NOT NULL DEFAULT '[]',
        fingerprint TEXT NOT NULL,
        demands TEXT NOT NULL DEFAULT '[]',
        schemes TEXT NOT NULL DEFAULT '[]',
        security TEXT NOT NULL DEFAULT '[]',
        streaming INTEGER NOT NULL DEFAULT 0,
        require_token INTEGER NOT NULL DEFAULT 0,
        added REAL NOT NULL,
        last_seen REAL NOT NULL,
        card_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE secrets (
        secret_id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        owner TEXT,
        scheme TEXT,
        name TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        updated REAL NOT NULL,
        last_used REAL,
        use_count INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('pending', 'ready', 'deleting')),
        state_pid INTEGER,
        state_since REAL
    );
    CREATE UNIQUE INDEX secrets_identity ON secrets (key, ifnull(owner, ''), ifnull(scheme, ''));
    CREATE INDEX secrets_owner ON secrets (owner);
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        secret_id TEXT NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
        scope TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL,
        task_id TEXT,
        context_id TEXT,
        card_fingerprint TEXT
    );
    CREATE INDEX grants_agent ON grants (agent);
    CREATE INDEX grants_secret ON grants (secret_id);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        decision TEXT NOT NULL,
        agent TEXT,
        key TEXT,
        secret_id TEXT,
        scope TEXT,
        task_id TEXT,
        context_id TEXT,
        caller TEXT,
        detail TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_agent ON audit (agent);
    CREATE INDEX audit_ts ON audit (ts);
    """,
    # 2: what `agents push-secrets` sent to an agent's own Agent Protocol secrets API, so a later push
    # deletes there only what it pushed and was revoked here (core/a2a/ap_push.py)
    """
    CREATE TABLE ap_pushes (
        agent TEXT NOT NULL,
        key TEXT NOT NULL,
        secret_id TEXT NOT NULL,
        remote_id TEXT,
        pushed REAL NOT NULL,
        PRIMARY KEY (agent, key)
    );
    """,
    # 3 (issue 18): a loopback port of its own for an agent, where the bridge serves it at the root (for
    # clients that only look for /.well-known/agent-card.json at a host's root); one agent per port
    """
    ALTER TABLE agents ADD COLUMN bridge_port INTEGER;
    CREATE UNIQUE INDEX agents_bridge_port ON agents (bridge_port) WHERE bridge_port IS NOT NULL;
    """,
    # 4 (issue 14, model access): the card's LLM and embedding demands; OpenAI-compatible providers
    # (the key is a vault value under `key_account`, never here); model grants (an agent's demand
    # answered with a provider's model, through the gateway or handing the key over); requests and
    # tokens per agent, model and day; per-agent request budgets (core/llm/)
    """
    ALTER TABLE agents ADD COLUMN model_demands TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE model_providers (
        name TEXT PRIMARY KEY,
        base_url TEXT NOT NULL,
        preset TEXT NOT NULL DEFAULT '',
        key_account TEXT,
        handover INTEGER NOT NULL DEFAULT 0,
        models TEXT NOT NULL DEFAULT '[]',
        models_checked REAL,
        status TEXT,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE model_grants (
        grant_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        demand TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        handover INTEGER NOT NULL DEFAULT 0,
        scope TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL,
        task_id TEXT,
        context_id TEXT,
        card_fingerprint TEXT
    );
    CREATE INDEX model_grants_agent ON model_grants (agent);
    CREATE TABLE model_usage (
        agent TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        day TEXT NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (agent, provider, model, day)
    );
    CREATE TABLE model_budgets (
        agent TEXT PRIMARY KEY,
        requests_per_day INTEGER NOT NULL
    );
    """,
    # 5 (issue 13): sign-ins for an agent's OAuth 2 / OIDC / mTLS card schemes. Everything here is
    # what `auth list` shows; tokens, client secrets and private keys live only in the vault entry
    # named by `account` (core/catalog/signins.py).
    """
    CREATE TABLE signins (
        agent TEXT NOT NULL,
        scheme TEXT NOT NULL,
        account TEXT NOT NULL UNIQUE,
        flow TEXT,
        issuer TEXT,
        client_id TEXT,
        public INTEGER NOT NULL DEFAULT 1,
        registered INTEGER NOT NULL DEFAULT 0,
        redirect_uri TEXT,
        scopes TEXT NOT NULL DEFAULT '',
        subject TEXT,
        expires REAL,
        refresh_held INTEGER NOT NULL DEFAULT 0,
        signed_in REAL,
        cert_subject TEXT,
        cert_not_after REAL,
        updated REAL NOT NULL,
        PRIMARY KEY (agent, scheme)
    );
    """,
    # 6: team secrets (issue 15): a team's read-only secret from the team vault has owner NULL and its
    # team here; a user's own shared secret and a team's may have the same key
    """
    ALTER TABLE secrets ADD COLUMN team TEXT;
    DROP INDEX secrets_identity;
    CREATE UNIQUE INDEX secrets_identity
        ON secrets (key, ifnull(owner, ''), ifnull(scheme, ''), ifnull(team, ''));
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
