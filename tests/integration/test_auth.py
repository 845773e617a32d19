from __future__ import annotations

import asyncio

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from ats.models import AuthToken
from ats.runtime import Runtime
from tests.conftest import PASSWORD, Account, login, problem


async def test_login_me_and_logout(account: Account, client: AsyncTestClient[Litestar]) -> None:
    me = await client.get("/api/v1/me", headers=account.headers)
    assert me.status_code == 200
    body = me.json()["data"]
    assert body["id"] == str(account.admin_id)
    assert body["role"] == "admin"
    assert body["account"]["id"] == str(account.id)
    assert body["email"] == account.admin_email

    out = await client.post("/api/v1/auth/logout", headers=account.headers)
    assert out.status_code == 204
    problem(await client.get("/api/v1/me", headers=account.headers), 401, "unauthorized")


async def test_token_response_shape(account: Account, client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD})
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["access_token"] != body["refresh_token"]


async def test_wrong_password_and_unknown_email_look_the_same(
    account: Account, client: AsyncTestClient[Litestar]
) -> None:
    wrong = problem(
        await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": "nope-nope"}),
        401,
        "unauthorized",
    )
    unknown = problem(
        await client.post("/api/v1/auth/token", json={"email": "nobody@example.com", "password": "nope-nope"}),
        401,
        "unauthorized",
    )
    assert wrong["detail"] == unknown["detail"]


async def test_repeated_failures_are_rate_limited(account: Account, client: AsyncTestClient[Litestar]) -> None:
    for _ in range(5):
        problem(
            await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": "bad-password"}),
            401,
        )
    limited = await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD})
    problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0


async def test_refresh_rotates_and_a_reused_refresh_token_fails(
    account: Account, client: AsyncTestClient[Litestar]
) -> None:
    first = (await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD})).json()
    second = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    # the old access token went with the old refresh token
    problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {first['access_token']}"}), 401)
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    ).status_code == 200
    # using the first refresh token again fails, and ends the rotated session too
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)
    problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}), 401)
    problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)


async def test_expired_token_is_refused(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    async with runtime.transaction() as session:
        await session.execute(
            update(AuthToken).where(AuthToken.user_id == account.admin_id).values(expires_at=AuthToken.created_at)
        )
    problem(await client.get("/api/v1/me", headers=account.headers), 401, "unauthorized")


async def test_missing_and_garbage_tokens(client: AsyncTestClient[Litestar]) -> None:
    problem(await client.get("/api/v1/me"), 401, "unauthorized")
    problem(await client.get("/api/v1/me", headers={"Authorization": "Bearer ats_at_garbage"}), 401)
    problem(await client.get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)


async def test_deactivated_user_cannot_log_in_and_tokens_stop(
    account: Account, client: AsyncTestClient[Litestar]
) -> None:
    user_id, headers = await account.user("recruiter")
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    assert (await client.delete(f"/api/v1/users/{user_id}", headers=account.headers)).status_code == 204
    problem(await client.get("/api/v1/me", headers=headers), 401)
    email = (await client.get(f"/api/v1/users/{user_id}", headers=account.headers)).json()["data"]["email"]
    problem(await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}), 401)


async def test_malformed_json_and_unknown_fields(client: AsyncTestClient[Litestar]) -> None:
    problem(
        await client.post("/api/v1/auth/token", content=b'{"email": ', headers={"Content-Type": "application/json"}),
        400,
        "malformed_request",
    )
    body = problem(
        await client.post("/api/v1/auth/token", json={"email": "a@b.c", "password": "x", "admin": True}),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["pointer"] == "/admin"
    body = problem(await client.post("/api/v1/auth/token", json={"email": "a@b.c"}), 422, "validation_failed")
    assert body["errors"][0]["pointer"] == "/password"
    body = problem(await client.post("/api/v1/auth/token", json={"email": 5, "password": "x"}), 422)
    assert body["errors"][0]["pointer"] == "/email"


async def test_unknown_query_parameter_is_named(account: Account, client: AsyncTestClient[Litestar]) -> None:
    body = problem(await client.get("/api/v1/me?debug=1", headers=account.headers), 400)
    assert "debug" in body["detail"]


async def test_concurrent_logins_all_succeed(account: Account, client: AsyncTestClient[Litestar]) -> None:
    tokens = await asyncio.gather(*(login(client, account.admin_email) for _ in range(5)))
    assert len(set(tokens)) == 5
