"""The dashboard's Connect page: the OAuth apps without their secrets, the redirect URIs to register, the return
URLs, and forms (CSRF-checked) that change them."""

from __future__ import annotations

from tests.connect.support import GOOGLE_CLIENT, Connect
from tests.dashboard.support import dashboard_client, sign_in


async def test_connect_settings_page(connect: Connect) -> None:
    async with dashboard_client(connect.api_url) as client:
        csrf = await sign_in(client, connect.tenant.api_key)
        page = await client.get("/dashboard/connect")
        assert page.status_code == 200
        assert GOOGLE_CLIENT[0] in page.text and GOOGLE_CLIENT[1] not in page.text
        assert connect.redirect_uri("google") in page.text and connect.redirect_uri("microsoft") in page.text

        refused = await client.post("/dashboard/connect/app", data={"platform": "google", "remove": "1"})
        assert refused.status_code == 403
        saved = await client.post(
            "/dashboard/connect/app",
            data={"csrf_token": csrf, "platform": "google", "client_id": "new.apps", "client_secret": "s2"},
        )
        assert saved.status_code == 303
        urls = await client.post(
            "/dashboard/connect/return_urls",
            data={"csrf_token": csrf, "return_urls": "https://a.example.com/back\nhttps://b.example.com/back\n"},
        )
        assert urls.status_code == 303
        bad = await client.post(
            "/dashboard/connect/return_urls", data={"csrf_token": csrf, "return_urls": "http://evil.example.com/"}
        )
        assert bad.status_code == 400
    settings = (await connect.tenant.client.get("/api/v1/connect_settings")).json()
    assert settings["google"]["client_id"] == "new.apps"
    assert settings["return_urls"] == ["https://a.example.com/back", "https://b.example.com/back"]
