"""The sandbox app without a browser: logins and sessions, the publish endpoints, faults, public read side."""

from __future__ import annotations

import pytest

from platforms.sandbox.app import DEFAULT_PASSWORD, make_app
from platforms.sandbox.store import SandboxStore


@pytest.fixture
def app(tmp_path):
    return make_app(SandboxStore(tmp_path / "sandbox.db"))


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, platform="tistory", user="demo", password=DEFAULT_PASSWORD):
    fields = {"tistory": ("loginId", "password"), "naver": ("id", "pw"), "velog": ("email", "password")}[platform]
    path = {"tistory": "/tistory/auth/login", "naver": "/naver/nidlogin.login", "velog": "/velog/login"}[platform]
    return client.post(path, data={fields[0]: user, fields[1]: password, "next": "/"})


TISTORY_BODY = {"id": "0", "title": "제목", "content": "<p>본문입니다</p>", "visibility": 20, "category": 2,
                "tag": "a,b", "published": 1}


def test_editors_need_a_session(client):
    r = client.get("/tistory/demo/manage/newpost/")
    assert r.status_code == 200 and b'name="loginId"' in r.data  # Tistory: HTTP 200 with the login page
    r = client.get("/naver/demo/postwrite")
    assert r.status_code == 302 and "nidlogin.login" in r.headers["location"]
    assert login(client, password="wrong").status_code == 401
    assert login(client).status_code == 302
    r = client.get("/tistory/demo/manage/newpost/")
    assert b"post-title-inp" in r.data and b"editor-tistory_ifr" in r.data


def test_tistory_publish_and_public_pages(client, app):
    login(client)
    r = client.post("/tistory/demo/manage/post.json", json=TISTORY_BODY)
    assert r.status_code == 200 and r.json["entryUrl"].endswith("/tistory/demo/1")
    assert app.config["STORE"].count("tistory") == 1
    page = client.get("/tistory/demo/1").data.decode()
    assert 'og:title" content="제목"' in page and "본문입니다" in page and "tt_article_useless_p_margin" in page
    assert "<title>제목</title>" in client.get("/tistory/demo/rss").data.decode()
    listing = client.get("/tistory/demo/manage/posts.json?searchKeyword=제목").json
    assert listing["items"][0]["visibility"] == "PUBLIC" and listing["items"][0]["id"] == "1"
    assert client.get("/_sandbox/count").json["count"] == 1


def test_tistory_private_post_is_not_public(client):
    login(client)
    client.post("/tistory/demo/manage/post.json", json={**TISTORY_BODY, "visibility": 0})
    assert "비공개" in client.get("/tistory/demo/1").data.decode()
    assert "<item>" not in client.get("/tistory/demo/rss").data.decode()


@pytest.mark.parametrize("fault,status,stored", [("publish_500", 500, 0), ("publish_lost", 504, 1),
                                                 ("publish_noop", 200, 0)])
def test_publish_faults(client, app, fault, status, stored):
    login(client)
    client.post("/_sandbox/faults", json={fault: ["tistory"]})
    r = client.post("/tistory/demo/manage/post.json", json=TISTORY_BODY)
    assert r.status_code == status
    assert app.config["STORE"].count() == stored


def test_session_expiry_and_captcha(client):
    login(client)
    client.post("/_sandbox/faults", json={"session_expired": True})
    assert b'name="loginId"' in client.get("/tistory/demo/manage/newpost/").data
    client.post("/_sandbox/faults", json={"session_expired": False})
    assert b'name="loginId"' in client.get("/tistory/demo/manage/newpost/").data  # the old session stays gone
    login(client)
    client.post("/_sandbox/faults", json={"captcha": ["tistory"]})
    assert b'id="captcha"' in client.get("/tistory/demo/manage/newpost/").data


def test_unknown_fault_is_an_error(app):
    with pytest.raises(ValueError, match="unknown sandbox fault"):
        make_app(SandboxStore(), nonsense=True)


def test_naver_write_endpoint_and_mobile_pages(client, app):
    login(client, "naver")
    comp = '<div class="se-component se-text"><p class="se-text-paragraph">네이버 본문</p></div>'
    r = client.post("/naver/RabbitWrite.naver", json={"blogId": "demo", "documentModel": {
        "title": "네이버 제목", "components": [comp]}, "populationParams": {"tags": ["x"], "openType": 2}})
    no = r.json["result"]["logNo"]
    assert r.json["isSuccess"] and r.json["result"]["redirectUrl"] == f"/naver/demo/{no}"
    assert b'id="mainFrame"' in client.get(f"/naver/demo/{no}").data
    page = client.get(f"/PostView.naver?blogId=demo&logNo={no}").data.decode()
    assert "se-main-container" in page and "네이버 본문" in page and "네이버 제목" in page
    items = client.get("/api/blogs/demo/post-list?page=1&itemCount=30").json["result"]["items"]
    assert items[0]["titleWithInspectMessage"] == "네이버 제목" and str(items[0]["logNo"]) == no


def test_velog_write_post_null_on_failures(client, app):
    q = "mutation WritePost($title: String) { writePost(title: $title) { id user { username } url_slug } }"
    var = {"title": "벨로그", "body": "본문 **굵게**", "tags": ["t"], "url_slug": "velog-1", "is_private": False}
    assert client.post("/graphql", json={"query": q, "variables": var}).json == {"data": {"writePost": None}}
    login(client, "velog")
    assert client.post("/graphql", json={"query": "{ currentUser { id username } }"}).json["data"][
        "currentUser"]["username"] == "demo"
    no_slug = client.post("/graphql", json={"query": q, "variables": {**var, "url_slug": None}}).json
    assert no_slug["data"]["writePost"] is None  # a null slug is dropped silently, as on velog.io
    w = client.post("/graphql", json={"query": q, "variables": var}).json["data"]["writePost"]
    assert w["url_slug"] == "velog-1" and w["user"]["username"] == "demo"
    client.cookies.clear() if hasattr(client, "cookies") else None
    read = client.post("/graphql", json={"query": "query { post(username: $u, url_slug: $s) { title body } }",
                                         "variables": {"username": "demo", "url_slug": "velog-1"}}).json
    assert read["data"]["post"]["body"] == "본문 **굵게**"
    assert "본문" in client.get("/@demo/velog-1").data.decode()
    assert app.config["STORE"].count("velog") == 1


def test_crawler_readers_read_the_sandbox(tmp_path):
    """What the drivers publish is readable by the crawl side's readers (platforms/*/read.py) on the sandbox."""
    import platforms
    from bot.core.config import Config, Source
    from platforms.sandbox.server import serve

    app = make_app(SandboxStore())
    st = app.config["STORE"]
    st.add_post("tistory", "demo", "티스토리 글", "<p>티스토리 본문입니다.</p>\n<!-- blogbot:bb-1 -->", "html", ["a"])
    st.add_post("naver", "demo", "네이버 글", '<div class="se-component se-text"><div class="se-module se-module-text">'
                '<p class="se-text-paragraph">네이버 본문입니다.</p></div></div>', "html", ["b"])
    st.add_post("velog", "demo", "벨로그 글", "벨로그 **본문**입니다.\n", "markdown", ["c"], slug="velog-1")
    base, server = serve(app)
    cfg = Config(data_dir=tmp_path / "data")
    cfg.crawl.min_delay_s = 0
    try:
        for plat, kw, text in [("tistory", {"blog": "demo", "base_url": f"{base}/tistory/demo"}, "티스토리 본문입니다"),
                               ("naver", {"blog_id": "demo", "base_url": base}, "네이버 본문입니다"),
                               ("velog", {"username": "demo", "base_url": base}, "벨로그 **본문**입니다")]:
            reader = platforms.get(plat).reader(Source(platform=plat, **kw), cfg)
            (ref,) = list(reader.list_posts())
            post = reader.fetch(ref)
            assert post.title.endswith("글") and text in post.body_markdown, (plat, post)
    finally:
        server.shutdown()
