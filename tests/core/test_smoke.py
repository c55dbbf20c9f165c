from tests.factories import login, page_csrf


def test_login_and_home(client, factory):
    user = factory.user()
    login(client, user.username)
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "您好" in page.text
    assert page_csrf(client)
