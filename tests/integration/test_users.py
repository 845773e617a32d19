from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import PASSWORD, Account, login, problem


async def test_admin_manages_users(account: Account, client: AsyncTestClient[Litestar]) -> None:
    created = await client.post(
        "/api/v1/users",
        json={"email": "Rita@Example.com", "name": "Rita", "role": "recruiter", "password": PASSWORD},
        headers=account.headers,
    )
    assert created.status_code == 201
    user = created.json()["data"]
    assert {k: user[k] for k in ("email", "name", "role", "active")} == {
        "email": "Rita@Example.com",
        "name": "Rita",
        "role": "recruiter",
        "active": True,
    }
    assert "password" not in user and "password_hash" not in user
    listed = (await client.get("/api/v1/users", headers=account.headers)).json()["data"]
    assert {u["id"] for u in listed} == {str(account.admin_id), user["id"]}

    patched = await client.patch(
        f"/api/v1/users/{user['id']}",
        json={"name": "Rita M", "role": "hiring_manager"},
        headers=account.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["role"] == "hiring_manager"
    assert patched.json()["data"]["name"] == "Rita M"


async def test_email_unique_per_account_case_insensitive(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    body = {"email": "dup@example.com", "name": "A", "role": "recruiter", "password": PASSWORD}
    assert (await client.post("/api/v1/users", json=body, headers=account.headers)).status_code == 201
    again = {**body, "email": "DUP@example.COM"}
    problem(await client.post("/api/v1/users", json=again, headers=account.headers), 409, "already_exists")
    # another account may use the same email
    assert (await client.post("/api/v1/users", json=body, headers=other_account.headers)).status_code == 201


async def test_bad_user_input(account: Account, client: AsyncTestClient[Litestar]) -> None:
    base = {"email": "x@example.com", "name": "X", "role": "recruiter", "password": PASSWORD}
    body = problem(await client.post("/api/v1/users", json={**base, "role": "owner"}, headers=account.headers), 422)
    assert body["errors"][0]["pointer"] == "/role"
    body = problem(await client.post("/api/v1/users", json={**base, "password": "short"}, headers=account.headers), 422)
    assert body["errors"][0]["pointer"] == "/password"
    body = problem(await client.post("/api/v1/users", json={**base, "is_root": 1}, headers=account.headers), 422)
    assert body["errors"][0]["pointer"] == "/is_root"
    problem(
        await client.patch(f"/api/v1/users/{account.admin_id}", json={"email": "y@x.y"}, headers=account.headers),
        422,
    )


async def test_roles_other_than_admin_are_forbidden(account: Account, client: AsyncTestClient[Litestar]) -> None:
    for role in ("recruiter", "hiring_manager", "compliance"):
        _, headers = await account.user(role)
        problem(await client.get("/api/v1/users", headers=headers), 403, "forbidden")
        problem(
            await client.post(
                "/api/v1/users",
                json={"email": f"{role}x@example.com", "name": "X", "role": "admin", "password": PASSWORD},
                headers=headers,
            ),
            403,
        )
        problem(await client.post("/api/v1/api-keys", json={"name": "k", "role": "admin"}, headers=headers), 403)


async def test_another_accounts_user_is_not_found(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar]
) -> None:
    theirs = other_account.admin_id
    problem(await client.get(f"/api/v1/users/{theirs}", headers=account.headers), 404, "not_found")
    problem(await client.patch(f"/api/v1/users/{theirs}", json={"name": "x"}, headers=account.headers), 404)
    problem(await client.delete(f"/api/v1/users/{theirs}", headers=account.headers), 404)
    problem(await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=account.headers), 404)
    # the other admin still works
    assert (await client.get("/api/v1/me", headers=other_account.headers)).status_code == 200


async def test_password_change_ends_sessions(account: Account, client: AsyncTestClient[Litestar]) -> None:
    user_id, headers = await account.user("recruiter")
    email = (await client.get(f"/api/v1/users/{user_id}", headers=account.headers)).json()["data"]["email"]
    new_password = "another long password"
    response = await client.patch(f"/api/v1/users/{user_id}", json={"password": new_password}, headers=account.headers)
    assert response.status_code == 200
    problem(await client.get("/api/v1/me", headers=headers), 401)
    assert await login(client, email, new_password)


async def test_api_keys_shown_once_usable_and_revocable(account: Account, client: AsyncTestClient[Litestar]) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "ci", "role": "recruiter"}, headers=account.headers)
    assert created.status_code == 201
    key = created.json()["data"]
    assert key["key"].startswith("ats_key_")
    listed = (await client.get("/api/v1/api-keys", headers=account.headers)).json()["data"]
    assert [k["key"] for k in listed] == [None]
    key_headers = {"Authorization": f"Bearer {key['key']}"}
    problem(await client.post("/api/v1/auth/logout", headers=key_headers), 400)
    me = (await client.get("/api/v1/me", headers=key_headers)).json()["data"]
    assert me["type"] == "api_key" and me["role"] == "recruiter" and me["account"]["id"] == str(account.id)
    problem(await client.get("/api/v1/users", headers=key_headers), 403)
    assert (await client.delete(f"/api/v1/api-keys/{key['id']}", headers=account.headers)).status_code == 204
    problem(await client.get("/api/v1/me", headers=key_headers), 401)
    revoked = (await client.get(f"/api/v1/api-keys/{key['id']}", headers=account.headers)).json()["data"]
    assert revoked["revoked_at"] is not None


async def test_concurrent_creates_with_one_email(account: Account, client: AsyncTestClient[Litestar]) -> None:
    import asyncio

    body = {"email": "same@example.com", "name": "S", "role": "recruiter", "password": PASSWORD}
    responses = await asyncio.gather(
        *(client.post("/api/v1/users", json=body, headers=account.headers) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
