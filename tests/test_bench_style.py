"""bench/style without a model: target selection for every corpus kind, --keep, --resume, the language the examples
are framed in, the issue's targets and the n printed beside every figure."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.style import metrics, models, report, run, targets
from bot.core.config import Config
from bot.core.records import Post

EN = ["I think the answer is simple, and I said so to everyone who would listen at the time.",
      "We walked to the river after dinner; the water was cold and the sky was turning grey.",
      "Honestly, nobody expected the results to hold up, but they did, again and again."]
KO = ["오늘은 비가 와서 집에서 책을 읽었다. 생각보다 재미있어서 끝까지 다 읽어 버렸다.",
      "회사 근처 국밥집에 다녀왔습니다. 국물이 진하고 양도 많아서 만족스러웠습니다."]


def _author_dir(root: Path, name: str, sentences: list[str], n: int = 8) -> None:
    d = root / name
    d.mkdir(parents=True)
    for i in range(n):
        body = " ".join(sentences[(i + k) % len(sentences)] for k in range(3)) + f" ({name} {i})"
        (d / f"{i:02d}.md").write_text(f"---\ntitle: {name} post {i}\n---\n\n{body}\n", encoding="utf-8")
    (d / "SOURCE.md").write_text("# provenance, not a post\n", encoding="utf-8")


@pytest.fixture
def en_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    _author_dir(root, "alice", EN)
    _author_dir(root, "bob", [s.upper() for s in EN])
    _author_dir(root, "carol", [s.replace(" ", "  ").replace(",", " —") for s in EN])
    return root


def one_draft_config() -> Config:
    """The product's config drafting one candidate per topic, as the bench's one-draft arms do."""
    return Config(generate={"n_candidates": 1})


def test_source_md_is_not_a_post(en_corpus: Path) -> None:
    corpus = metrics.load_folder(en_corpus)
    assert {k: len(v) for k, v in corpus.items()} == {"alice": 8, "bob": 8, "carol": 8}


def test_pick_targets_honours_targets_for_every_corpus_kind() -> None:
    names = ["alice", "bob", "carol"]
    assert run.pick_targets(names, ["bob"], 5) == ["bob"]  # a folder corpus: was silently ignored before
    assert run.pick_targets(names, ["it_dev"], 5) == []  # names of another corpus only: no target here
    assert run.pick_targets(names, None, 2) == ["alice", "bob"]
    assert run.pick_targets(names, None, 2, default=["carol", "bob"]) == ["carol", "bob"]
    assert run.pick_targets(names, None, 2, default=["it_dev"]) == ["alice", "bob"]
    assert run.unknown_targets(["bob", "nobody"], set(names)) == ["nobody"]


def test_unknown_target_is_an_error(en_corpus: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(["--corpora", "korean-real", "--korean-real", str(en_corpus), "--targets", "nobody", "--no-model"])
    assert exc.value.code == 2


def test_examples_are_framed_in_the_corpus_language() -> None:
    en = [Post(platform="bench", source_id=f"a/{i}", title=f"T{i}", body_markdown=t) for i, t in enumerate(EN)]
    ko = [Post(platform="bench", source_id=f"k/{i}", title=f"제목{i}", body_markdown=t) for i, t in enumerate(KO)]
    assert models.corpus_language(en) == "en" and models.corpus_language(ko) == "ko"
    block = models.example_block(en[:2], "en", chars=20)
    assert block.startswith("[Example] T0\n") and "[참고]" not in block and block.endswith("---\n\n")
    assert EN[0][:20] in block and EN[0][:21] not in block
    assert models.example_block(ko, "ko").startswith("[참고] 제목0\n")
    assert models.example_block([], "en") == ""


class FakeBackend:
    """Stands in for bot.voice.generate.LocalBackend: its own prompt says [참고], as the product's does."""

    def prompt(self, topic: str, tags: list[str], examples: list[Post] | None, notes: str | None = None) -> str:
        return ("[참고] x\n\n---\n\n" if examples else "") + (f"[메모] {notes}\n" if notes else "") + f"주제: {topic}\n"

    def generate(self, topic: str, tags: list[str], examples: list[Post] | None = None, seed: int | None = None,
                 notes: str | None = None):
        p = self.prompt(topic, tags, examples, notes)
        return SimpleNamespace(title=topic, body_markdown=p, new_tokens=3, params={"backend": "local"})


def test_generate_uses_the_bench_framing_and_per_topic_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.voice.generate as g

    monkeypatch.setattr(g, "load_backend", lambda cfg, adapter=None: FakeBackend())
    posts = [Post(platform="bench", source_id=f"a/{i}", title=f"T{i}", body_markdown=t) for i, t in enumerate(EN)]
    out = models.generate(one_draft_config(), None, posts[:2], examples=lambda p: [x for x in posts if x is not p][:1],
                          lang="en")
    assert [o["examples"] for o in out] == [["a/1"], ["a/0"]]
    assert out[0]["body_markdown"].startswith("[Example] T1\n") and "[참고]" not in out[0]["body_markdown"]
    assert "주제: T0" in out[0]["body_markdown"]
    bare = models.generate(one_draft_config(), None, posts[:1], lang="en")
    assert bare[0]["body_markdown"] == "주제: T0\n"


def test_kept_adapter_is_reused_only_for_the_same_recipe_and_posts(tmp_path: Path) -> None:
    from bot.voice import corpus
    from bot.voice.style.features import paced_rates

    cfg = Config()
    posts = [Post(platform="bench", source_id=f"a/{i}", title="t", body_markdown=t) for i, t in enumerate(EN)]
    d = tmp_path / "alice"
    d.mkdir()
    (d / "training.json").write_text(json.dumps({"tune": cfg.tune.model_dump(),
                                                 "data_hash": corpus.data_hash(posts)}), encoding="utf-8")
    (d / "metrics.json").write_text(json.dumps({"steps": 30}), encoding="utf-8")
    (d / "prompt_template.json").write_text(json.dumps({"version": "v1", "typical_chars": 300}), encoding="utf-8")
    assert models.kept_adapter(cfg, posts, d) == {"steps": 30, "reused": True}
    assert models.kept_adapters(cfg, tmp_path) == {"alice": d}
    # kept from before the tune wrote the author's mark rates: given them from the same posts (generate.pace)
    meta = json.loads((d / "prompt_template.json").read_text(encoding="utf-8"))
    assert meta["typical_chars"] == 300 and meta["paced_rates"] == paced_rates([p.body_markdown for p in posts])
    # kept from before emoji were paced: the rates again, with every paced mark
    (d / "prompt_template.json").write_text(json.dumps({**meta, "paced_rates": {"question": 9.0}}), encoding="utf-8")
    assert models.kept_adapter(cfg, posts, d) == {"steps": 30, "reused": True}
    meta = json.loads((d / "prompt_template.json").read_text(encoding="utf-8"))
    assert meta["paced_rates"] == paced_rates([p.body_markdown for p in posts]) and "emoji" in meta["paced_rates"]
    assert models.kept_adapter(cfg, posts[:2], d) is None  # other posts
    cfg.tune.voice_chars += 100  # what tune measures after training: the same weights, still reused
    assert models.kept_adapter(cfg, posts, d) == {"steps": 30, "reused": True}
    older = {k: v for k, v in cfg.tune.model_dump().items() if not k.startswith("preference_")}
    (d / "training.json").write_text(json.dumps({"tune": older, "data_hash": corpus.data_hash(posts)}),
                                     encoding="utf-8")
    assert models.kept_adapter(cfg, posts, d) is None  # tuned before the preference round, now on by default
    cfg.tune.preference_steps = 0
    assert models.kept_adapter(cfg, posts, d) is not None  # the round off: the recipe it was tuned with
    cfg.tune.max_steps += 1
    assert models.kept_adapter(cfg, posts, d) is None  # another recipe
    assert models.kept_adapters(cfg, tmp_path) == {}
    cfg = Config()
    older = {k: v for k, v in cfg.tune.model_dump().items() if k != "window_context"}
    (d / "training.json").write_text(json.dumps({"tune": older, "data_hash": corpus.data_hash(posts)}),
                                     encoding="utf-8")
    assert models.kept_adapter(cfg, posts, d) is not None  # tuned before the setting existed: windows without context
    cfg.tune.window_context = 64
    assert models.kept_adapter(cfg, posts, d) is None


def test_clip_posts_for_perplexity() -> None:
    posts = [Post(platform="bench", source_id="a/0", title="t", body_markdown="x" * 50)]
    assert models.clip_posts(posts, 10)[0].body_markdown == "x" * 10
    assert models.clip_posts(posts, None)[0].body_markdown == "x" * 50 and posts[0].body_markdown == "x" * 50


def _row(adapter: float, prompting: float, ppl_own: float, ppl_other: float, dist: float, copy: float) -> dict:
    gen = {"n": 10, "attributed_masked": adapter, "distance": dist, "copy": {"share": copy}}
    return {"name": "a", "real": {"distance_own_heldout": 0.2, "distance_own_spread": 0.3,
                                  "natural_copy": {"share": 0.02}},
            "adapter": gen, "prompting": {**gen, "attributed_masked": prompting},
            "perplexity": {"base": 30.0, "adapter:a": ppl_own, "adapter:b": ppl_other}, "ppl_posts": 3}


def test_targets_met_and_not_met() -> None:
    ceiling = {"ceiling_masked": 0.9}
    good = targets.for_arm(_row(0.8, 0.5, 18.0, 20.0, 0.5, 0.01), ceiling, "adapter")
    assert all(t["met"] for t in good.values()), good
    assert good["own_ppl_10pct_below_best_other"]["value"] == pytest.approx(0.10)
    assert good["masked_attr_ge_ceiling_minus_10pts"]["n"] == 10
    bad = targets.for_arm(_row(0.7, 0.5, 19.0, 20.0, 0.6, 0.03), ceiling, "adapter")
    assert [k for k, t in bad.items() if not t["met"]] == list(bad)
    assert targets.summary(bad) == "0/5 met"
    missing = targets.for_arm({"name": "a", "real": {}}, {}, "adapter")
    assert all(t["met"] is None for t in missing.values()) and targets.summary(missing) == "0/0 met"


def test_figures_carry_their_n() -> None:
    assert report.share_n(0.75, 4) == "75% (3/4)"
    assert report.share_n(None, 4) == "—" and report.share_n(0.5, 0) == "—"
    assert report.num_n(0.483, 10) == "0.48 (n=10)"


def _fake_models(monkeypatch: pytest.MonkeyPatch, calls: dict) -> None:
    monkeypatch.setattr(models, "unavailable", lambda: None)

    def tune(cfg, posts, out_dir):
        calls["tuned"].append(out_dir.name)
        return {"steps": 0}

    def generate(cfg, adapter, topics, examples=None, seed=0, lang="ko", store=None):
        calls["lang"].add(lang)
        ex = examples(topics[0]) if callable(examples) else examples
        calls["arms"].append((adapter.name if adapter else None, bool(ex)))
        return [{"topic": t.title, "title": t.title, "body_markdown": t.body_markdown, "examples": []}
                for t in topics]

    monkeypatch.setattr(models, "tune", tune)
    monkeypatch.setattr(models, "generate", generate)
    monkeypatch.setattr(models, "kept_adapters", lambda cfg, root: {"alice": root / "alice", "bob": root / "bob"})
    monkeypatch.setattr(models, "perplexities",
                        lambda cfg, posts, ad, chars=None: {"base": 30.0, **{k: 20.0 for k in ad}})


def test_run_targets_keep_resume_on_a_folder_corpus(en_corpus: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict = {"tuned": [], "lang": set(), "arms": []}
    _fake_models(monkeypatch, calls)
    keep, out = tmp_path / "keep", tmp_path / "out"
    base = ["--corpora", "korean-real", "--korean-real", str(en_corpus), "--gens", "2", "--keep", str(keep),
            "--out", str(out)]
    assert run.main([*base, "--targets", "bob", "--arms", "adapter", "prompting", "adapter+related"]) == 0
    assert calls["tuned"] == ["bob"] and calls["lang"] == {"en"}
    assert calls["arms"] == [("bob", False), (None, True), ("bob", True)]
    res = json.loads((out / "style-bench.json").read_text(encoding="utf-8"))
    (c,) = res["corpora"]
    assert list(c["targets"]) == ["bob"] and c["language"] == "en"
    assert c["targets"]["bob"]["adapter"]["n"] == 2
    bob = c["targets"]["bob"]["adapter"]  # the references at the drafts' length: distance and the judge's ceiling
    assert bob["length_chars"] > 0 and 0 <= bob["ceiling_at_length_masked"] <= 1
    assert "distance_own_at_length" in bob and "distance_own_at_length_spread" in bob
    assert set(c["targets"]["bob"]["targets_met"]) == {"adapter", "adapter+related", "prompting"}
    gens = sorted(p.relative_to(keep).as_posix() for p in (keep / "korean-real" / "generations").rglob("*.md"))
    assert gens == sorted(f"korean-real/generations/bob/{arm}/{i:02d}.md"
                          for arm in ("adapter", "adapter+related", "prompting") for i in range(2))
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "(n=" in text and "/2)" in text and "Targets of the issue" in text
    assert (out / "style-korean-real.png").stat().st_size > 0 and "![chart](style-korean-real.png)" in text
    # --resume keeps bob (complete, same recipe) and measures only carol, then adds one arm to carol only
    calls["tuned"].clear()
    calls["arms"].clear()
    assert run.main([*base, "--targets", "bob", "carol", "--resume", "--arms", "adapter", "prompting"]) == 0
    assert calls["tuned"] == ["carol"] and calls["arms"] == [("carol", False), (None, True)]
    res = json.loads((out / "style-bench.json").read_text(encoding="utf-8"))
    assert "adapter+related" in res["corpora"][0]["targets"]["bob"]["resumed"]
    assert "perplexity" in res["corpora"][0]["targets"]["carol"]
    calls["tuned"].clear()
    calls["arms"].clear()
    assert run.main([*base, "--targets", "bob", "carol", "--resume", "--arms", "adapter+related"]) == 0
    assert calls["arms"] == [("carol", True)]
    (c,) = json.loads((out / "style-bench.json").read_text(encoding="utf-8"))["corpora"]
    assert set(c["targets"]["carol"]) >= {"adapter", "prompting", "adapter+related", "perplexity"}
    # another recipe: nothing is kept
    calls["arms"].clear()
    assert run.main([*base, "--targets", "bob", "--resume", "--arms", "adapter", "--seed", "1"]) == 0
    assert calls["arms"] == [("bob", False)]
    # the same recipe again, naming carol only: bob stays in the report as measured
    calls["arms"].clear()
    assert run.main([*base, "--targets", "carol", "--resume", "--arms", "adapter", "--seed", "1"]) == 0
    (c,) = json.loads((out / "style-bench.json").read_text(encoding="utf-8"))["corpora"]
    assert calls["arms"] == [("carol", False)] and set(c["targets"]) == {"bob", "carol"}
    # another tune: the prompting arm (no adapter) is kept, the adapter arm is drafted again with the new adapter
    assert run.main([*base, "--targets", "carol", "--resume", "--arms", "adapter", "prompting", "--seed", "1"]) == 0
    calls["arms"].clear()
    calls["tuned"].clear()
    assert run.main([*base, "--targets", "carol", "--resume", "--arms", "adapter", "prompting", "--seed", "1",
                     "--set", "tune.max_steps=7"]) == 0
    assert calls["tuned"] == ["carol"] and calls["arms"] == [("carol", False)]
    (c,) = json.loads((out / "style-bench.json").read_text(encoding="utf-8"))["corpora"]
    assert c["targets"]["carol"]["resumed"] == ["prompting"] and set(c["targets"]) == {"carol"}


# --- the voice per backend: served-adapter (llama.cpp + GGUF LoRA) and api-prompting (openai backend) ------------


def test_arm_config_builds_the_product_backend_of_each_arm(tmp_path: Path) -> None:
    cfg = models.bench_config(tmp_path, True, None, 120)
    assert {a: models.arm_config(cfg, a).model.backend for a in ("adapter", "prompting", "served-adapter")} == \
        {"adapter": "local", "prompting": "local", "served-adapter": "llamacpp"}
    api = models.arm_config(cfg, "api-prompting", "http://127.0.0.1:9/v1/", tmp_path / "store")
    m = api.model
    assert (m.backend, m.base_url, m.name, m.api) == ("openai", "http://127.0.0.1:9/v1", models.API_ALIAS, "chat")
    assert m.max_tokens == 120 and m.example_tokens == models.API_EXAMPLE_TOKENS and api.data_dir == tmp_path / "store"
    assert api.model.cache_dir == cfg.model.cache_dir  # the converted base is shared
    assert cfg.model.backend == "local" and cfg.model.base_url is None  # the bench config itself is untouched
    with pytest.raises(ValueError, match="api-prompting needs"):
        models.arm_config(cfg, "api-prompting")


def test_api_prompting_sends_the_authors_brief_from_the_bench_store(tmp_path: Path) -> None:
    """The openai backend's request (no server needed to build it): style brief in the corpus language, the author's
    own training posts as earlier turns, the held-out topic last, answer capped like the local arms."""
    from bot.voice.backends import brief
    from bot.voice.backends.openai_compat import OpenAIBackend

    posts = [Post(platform="bench", source_id=f"alice/{i}", title=f"Rivers {i}", body_markdown=f"{t} {t}")
             for i, t in enumerate(EN)]
    store = models.author_store(tmp_path / "store", posts)
    assert sorted(p.source_id for p in brief.author_posts(Config(data_dir=store))) == [p.source_id for p in posts]
    models.author_store(store, posts[:1])  # a fresh store each time: nothing of an earlier author is left
    assert [p.source_id for p in brief.author_posts(Config(data_dir=store))] == ["alice/0"]
    models.author_store(store, posts)
    cfg = models.arm_config(models.bench_config(tmp_path, True, None, 64), "api-prompting", "http://127.0.0.1:9/v1",
                            store)
    req, meta = OpenAIBackend(cfg)._request("Walking to the river", ["walk"], None, 3, None)
    msgs = req["messages"]
    assert msgs[0]["role"] == "system" and msgs[0]["content"].startswith("You are the author")
    assert any(m["role"] == "assistant" and "# Rivers" in m["content"] for m in msgs[1:-1])
    assert msgs[-1]["role"] == "user" and "Walking to the river" in msgs[-1]["content"]
    assert req["model"] == models.API_ALIAS and req["max_tokens"] == 64 and meta["lang"] == "en"


class ClosingBackend:
    """A backend without a prompt to wrap (like the openai one) that must be closed after the arm."""

    closed = False

    def generate(self, topic, tags, examples=None, seed=None, notes=None):
        return SimpleNamespace(title=topic, body_markdown=f"about {topic}", new_tokens=5,
                               params={"backend": "openai", "usage": {"prompt_tokens": 321},
                                       "examples": ["Rivers 1"], "finish_reason": "length"})

    def close(self) -> None:
        self.closed = True


def test_generate_with_a_backend_that_has_no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.voice.generate as g

    backend = ClosingBackend()
    monkeypatch.setattr(g, "load_backend", lambda cfg, adapter=None: backend)
    posts = [Post(platform="bench", source_id=f"a/{i}", title=f"T{i}", body_markdown=t) for i, t in enumerate(EN)]
    (out,) = models.generate(one_draft_config(), None, posts[:1], lang="en")
    assert backend.closed and out["body_markdown"] == "about T0" and out["backend"] == "openai"
    assert out["prompt_tokens"] == 321 and out["examples"] == ["Rivers 1"] and out["finish_reason"] == "length"


def test_draft_topics_cycle_the_held_out_posts() -> None:
    assert run.draft_topics(["a", "b", "c"], 7) == ["a", "b", "c", "a", "b", "c", "a"]
    assert run.draft_topics(["a", "b", "c"], 2) == ["a", "b"] and run.draft_topics([], 3) == []


def test_arms_of_backend_flag() -> None:
    assert run.arms_of(None, None) == ["adapter", "prompting"]
    assert run.arms_of(None, ["openai", "llamacpp", "local"]) == ["adapter", "prompting", "served-adapter",
                                                                   "api-prompting"]
    assert run.arms_of(["adapter+related"], ["openai"]) == ["adapter+related", "api-prompting"]


def test_targets_for_every_arm_with_prompting_the_baseline() -> None:
    row = _row(0.8, 0.5, 18.0, 20.0, 0.5, 0.01)
    row["served-adapter"] = {**row["adapter"], "attributed_masked": 0.9}
    row["api-prompting"] = {**row["adapter"], "attributed_masked": 0.6}
    got = targets.for_row(row, {"ceiling_masked": 0.9})
    assert set(got) == {"adapter", "served-adapter", "prompting", "api-prompting"}
    assert got["served-adapter"]["masked_attr_25pts_over_prompting"]["met"] is True
    assert got["api-prompting"]["masked_attr_25pts_over_prompting"]["met"] is False  # 0.6 < 0.5 + 0.25
    assert got["prompting"]["masked_attr_25pts_over_prompting"]["applies"] is False  # the baseline itself
    assert got["served-adapter"]["own_ppl_10pct_below_best_other"]["met"] is True
    for arm in ("prompting", "api-prompting"):  # no adapter: the perplexity target is not theirs
        assert got[arm]["own_ppl_10pct_below_best_other"]["met"] is None
    assert report._mark(got["prompting"]["own_ppl_10pct_below_best_other"]) == "n/a"
    assert targets.summary(got["api-prompting"]) == "2/4 met"  # below the ceiling and the +25 rule


def test_run_backend_arms_side_by_side(en_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict = {"tuned": [], "lang": set(), "arms": []}
    _fake_models(monkeypatch, calls)
    seen: list = []

    from bot.voice.backends import brief

    def generate(cfg, adapter, topics, examples=None, seed=0, lang="ko", store=None):
        store = [p.source_id for p in brief.author_posts(cfg)] if cfg.model.backend == "openai" else None
        seen.append((cfg.model.backend, cfg.model.base_url, adapter.name if adapter else None, bool(examples),
                     [t.source_id for t in topics], store))
        return [{"topic": t.title, "title": t.title, "body_markdown": t.body_markdown, "examples": []}
                for t in topics]

    monkeypatch.setattr(models, "generate", generate)
    started: list = []

    class FakeServer:
        def __init__(self, cfg):
            self.cfg = cfg

        @property
        def url(self):
            started.append(1)
            return "http://127.0.0.1:9/v1"

        def close(self):
            started.append("closed")

    monkeypatch.setattr(models, "ApiServer", FakeServer)
    out = tmp_path / "out"
    assert run.main(["--corpora", "korean-real", "--korean-real", str(en_corpus), "--gens", "3", "--targets", "bob",
                     "--keep", str(tmp_path / "keep"), "--out", str(out), "--backend", "local", "llamacpp",
                     "openai"]) == 0
    assert [s[0] for s in seen] == ["local", "local", "llamacpp", "openai"]
    assert seen[2][2] == "bob" and seen[3][1] == "http://127.0.0.1:9/v1" and not seen[3][3]
    assert len({tuple(s[4]) for s in seen}) == 1 and len(seen[0][4]) == 3  # the same held-out topics for every arm
    bob = metrics.split(metrics.load_folder(en_corpus))[1]
    assert sorted(seen[3][5]) == sorted(p.source_id for p in bob.train)  # the brief reads bob's training posts only
    assert started[-1] == "closed"
    (c,) = json.loads((out / "style-bench.json").read_text(encoding="utf-8"))["corpora"]
    assert c["arm_backends"] == {"adapter": "local", "prompting": "local", "served-adapter": "llamacpp",
                                 "api-prompting": "openai"}
    assert set(c["targets"]["bob"]["targets_met"]) == {"adapter", "prompting", "served-adapter", "api-prompting"}
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    head = next(line for line in text.splitlines() if line.startswith("| author | ceiling masked |"))
    assert "served-adapter (`llamacpp`)" in head and "api-prompting (`openai`)" in head
    row = next(line for line in text.splitlines() if line.startswith("| bob | ") and ", dist " in line)
    assert row.count("/3), dist ") == 4 and row.count("met**") == 4 and "+25–" in row  # prompting: its own baseline
    total = next(line for line in text.splitlines() if line.startswith("| **pooled** |"))
    assert total.count("/3) of drafts") == 4 and total.count("ceil 1/1") + total.count("ceil 0/1") == 4
    assert total.count("ppl ") == 2  # the adapter arms only


def test_resume_keeps_arms_measured_with_another_number_of_drafts() -> None:
    cfg = {"tune": {"max_steps": 30}, "gens": 10, "ppl_posts": 2, "seed": 0}
    assert run.same_recipe(cfg, {**cfg, "gens": 5})  # each arm keeps its own n
    assert not run.same_recipe(cfg, {**cfg, "seed": 1}) and not run.same_recipe(None, cfg)
    assert not run.same_recipe(cfg, {**cfg, "tune": {"max_steps": 31}})
    assert run.same_recipe(cfg, {**cfg, "tune": {"max_steps": 31}}, tuned=False)  # the arms without an adapter
    assert not run.same_recipe(cfg, {**cfg, "seed": 1}, tuned=False)
    # a generate setting that leaves the body alone (the title step, added later) does not change the recipe
    gen = {**cfg, "generate": {"top_k": 50}}
    assert run.same_recipe(gen, {**gen, "generate": {"top_k": 50, "title_step": False}})
    assert not run.same_recipe(gen, {**gen, "generate": {"top_k": 40, "title_step": False}})
    # a generate setting added since, at the value older runs drafted with, is the same recipe; another is not
    assert run.same_recipe(gen, {**gen, "generate": {"top_k": 50, "spare_layout": False}})
    assert not run.same_recipe(gen, {**gen, "generate": {"top_k": 50, "spare_layout": True}})
    # drafting changed without a setting (DRAFTING): a run recorded before is drafted again
    assert not run.same_recipe(gen, {**gen, "drafting": run.DRAFTING}) and run.DRAFTING > 1
    assert run.same_recipe({**gen, "drafting": run.DRAFTING}, {**gen, "drafting": run.DRAFTING})
    assert models.bench_config(Path("/nonexistent"), True, None, None).generate.title_step is False


def test_resume_with_more_drafts_again_the_arms_measured_with_fewer(tmp_path: Path, monkeypatch) -> None:
    """--resume --more: an arm measured with fewer drafts than --gens is not kept (so it is drafted again)."""
    import argparse

    seen = {}

    def fake_real_side(judges, t, authors):
        return {"n_test": len(t.test)}, None

    monkeypatch.setattr(run, "_real_side", fake_real_side)
    monkeypatch.setattr(run.models, "unavailable", lambda: None)
    monkeypatch.setattr(run.models, "tune", lambda cfg, posts, d: {"steps": 3})  # (a kept adapter; not under test)
    corpus = {a: [Post(platform="bench", source_id=f"{a}/{i}", title=f"t{i}", body_markdown=t)
                  for i, t in enumerate(EN)] for a in ("alice", "bob")}
    cfg = models.bench_config(tmp_path / "w" / "c", True, None, None)
    prev_cfg = {"tune": cfg.tune.model_dump(), "generate": cfg.generate.model_dump(), "gens": 5, "ppl_posts": 3,
                "ppl_chars": 1500, "seed": 0, "drafting": run.DRAFTING}
    previous = {"model_config": prev_cfg, "targets": {"alice": {"adapter": {"n": 5}, "tune": {"steps": 3}}}}
    for more, kept in ((False, True), (True, False)):
        args = argparse.Namespace(targets=["alice"], authors=None, quick=True, steps=None, new_tokens=None, gens=10,
                                  ppl_posts=3, ppl_chars=1500, seed=0, arms=["adapter"], tune_only=True, more=more,
                                  no_model=False, keep=None)
        out: dict = {}
        run.run_corpus("c", corpus, args, tmp_path / "w", out, lambda: None, previous)
        seen[more] = "adapter" in out["targets"]["alice"]
        assert seen[more] is kept


def test_resume_with_other_drafting_keeps_the_perplexity_and_drafts_again(tmp_path: Path, monkeypatch) -> None:
    """--resume with drafts of another length: the held-out perplexity is kept (it does not depend on the drafts),
    the drafts are not; another tune or other perplexity settings measure it again."""
    import argparse

    monkeypatch.setattr(run, "_real_side", lambda judges, t, authors: ({"n_test": len(t.test)}, None))
    monkeypatch.setattr(run.models, "unavailable", lambda: None)
    monkeypatch.setattr(run.models, "tune", lambda cfg, posts, d: {"steps": 3, "fresh": True})
    corpus = {a: [Post(platform="bench", source_id=f"{a}/{i}", title=f"t{i}", body_markdown=t)
                  for i, t in enumerate(EN)] for a in ("alice", "bob")}
    cfg = models.bench_config(tmp_path / "w" / "c", True, None, None)
    prev_cfg = {"tune": cfg.tune.model_dump(), "generate": cfg.generate.model_dump(), "gens": 10, "ppl_posts": 3,
                "ppl_chars": 1500, "seed": 0, "drafting": run.DRAFTING}
    previous = {"model_config": prev_cfg, "targets": {"alice": {
        "adapter": {"n": 10}, "prompting": {"n": 10}, "tune": {"steps": 3}, "perplexity": {"base": 20.0},
        "ppl_posts": 3, "ppl_chars": 1500}}}

    def resumed(**changed) -> dict:
        args = argparse.Namespace(**{**dict(targets=["alice"], authors=None, quick=True, steps=None, new_tokens=None,
                                            gens=10, ppl_posts=3, ppl_chars=1500, seed=0, arms=["adapter"],
                                            tune_only=True, more=False, no_model=False, keep=None), **changed})
        out: dict = {}
        run.run_corpus("c", corpus, args, tmp_path / "w", out, lambda: None, previous)
        return out["targets"]["alice"]

    same = resumed()
    assert "adapter" in same and same["tune"] == {"steps": 3} and same["perplexity"] == {"base": 20.0}
    longer = resumed(new_tokens=700)  # drafts of another length: drafted again, the perplexity kept
    assert "adapter" not in longer and "prompting" not in longer and longer["perplexity"] == {"base": 20.0}
    assert set(longer["resumed"]) == {"tune", "perplexity", "ppl_posts", "ppl_chars"}
    assert longer["tune"]["fresh"]  # the author is drafted, so models.tune runs (it reuses a kept adapter)
    for changed in ({"ppl_chars": 1200}, {"steps": 31}):  # other perplexity settings, another tune: measured again
        again = resumed(**changed)
        assert "perplexity" not in again and again["tune"] == {"steps": 3, "fresh": True}
    assert run.same_scoring(prev_cfg, {**prev_cfg, "seed": 5, "gens": 3}) and not run.same_scoring(None, prev_cfg)


def test_set_applies_a_lever_as_a_validated_config_setting() -> None:
    cfg = models.apply_settings(Config(), ["generate.vocab=full", "generate.no_repeat_ngram_size=0",
                                           "tune.learning_rate=1e-4"])
    assert cfg.generate.vocab == "full" and cfg.generate.no_repeat_ngram_size == 0
    assert cfg.tune.learning_rate == 1e-4
    for bad in ("generate.vocab", "nosection.x=1", "generate.nokey=1"):
        with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
            models.apply_settings(Config(), [bad])
    with pytest.raises(ValueError):  # the config's own rules apply
        models.apply_settings(Config(), ["generate.vocab=nope"])
    with pytest.raises(SystemExit):  # the CLI refuses before loading anything
        run.main(["--no-model", "--set", "generate.top_k=-1"])


def test_distance_target_holds_drafts_against_the_own_posts_cut_to_their_length() -> None:
    row = _row(0.8, 0.5, 18.0, 20.0, 1.5, 0.01)
    full = targets.for_arm(row, {"ceiling_masked": 0.9}, "adapter")["distance_le_own_plus_spread"]
    assert full["met"] is False and full["threshold"] == pytest.approx(row["real"]["distance_own_heldout"]
                                                                       + row["real"]["distance_own_spread"])
    row["adapter"].update(length_chars=150, distance_own_at_length=1.2, distance_own_at_length_spread=0.4)
    cut = targets.for_arm(row, {"ceiling_masked": 0.9}, "adapter")["distance_le_own_plus_spread"]
    assert cut["met"] is True and cut["threshold"] == pytest.approx(1.6) and "150 characters" in cut["rule"]
    row["adapter"]["distance"] = 1.7
    assert targets.for_arm(row, {"ceiling_masked": 0.9}, "adapter")["distance_le_own_plus_spread"]["met"] is False


def test_own_posts_cut_to_the_drafts_median_length(en_corpus: Path) -> None:
    authors = metrics.split(metrics.load_folder(en_corpus))
    alice = next(a for a in authors if a.name == "alice")
    dm = metrics.distance_model(alice, authors)
    own = [metrics.text(p) for p in alice.test]
    at = metrics.own_at_length(dm, own, ["x" * 30, "y" * 40, "z" * 500])
    assert at["length_chars"] == 40
    assert at["distance_own_at_length"] == metrics.mean_distance(dm, [t[:40] for t in own])
    whole = metrics.own_at_length(dm, own, ["x" * 10_000])  # drafts longer than every post: the posts stay whole
    assert whole["distance_own_at_length"] == metrics.mean_distance(dm, own)
    assert metrics.own_at_length(dm, own, [])["distance_own_at_length"] is None


def test_middles_are_slices_of_a_post_after_its_opening() -> None:
    post = "".join(chr(0xAC00 + i) for i in range(400))  # every character distinct: a slice's place is its content
    cut = metrics.middles([post, post[:100]], 40, per=5)  # the short text (< 3 × 40) gives none
    assert len(cut) == 5 and all(len(c) == 40 and c in post and post.index(c) >= 40 for c in cut)
    assert cut == metrics.middles([post], 40, per=5)  # the same slices every run


class SeededBackend:
    """Candidate 0 (seed < CANDIDATE_SEED_STEP) is degenerate, the next ones read like the author."""

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def generate(self, topic, tags, examples=None, seed=None, notes=None):
        self.seeds.append(seed)
        body = ("ㅋ" * 200 if seed < models.CANDIDATE_SEED_STEP else
                f"{topic} 이야기를 해 보려고 한다. " + " ".join(KO[(seed + k) % 2] for k in range(4)))
        return SimpleNamespace(title=topic, body_markdown=body, tags=list(tags), new_tokens=50,
                               params={"backend": "local"})


def test_best_of_n_keeps_the_candidate_the_product_would_keep(tmp_path: Path, monkeypatch) -> None:
    """generate.n_candidates > 1: n candidates per topic, the one pick_best keeps (gates, then style), judged
    against the author's store; candidate 0 has the one-draft arm's seed."""
    import bot.voice.generate as g

    backend = SeededBackend()
    monkeypatch.setattr(g, "load_backend", lambda cfg, adapter=None: backend)
    posts = [Post(platform="bench", source_id=f"k/{i}", title=f"일기 {i}",
                  body_markdown=" ".join(KO[(i + k) % 2] for k in range(4))) for i in range(10)]
    cfg = models.apply_settings(Config(), ["generate.n_candidates=3", "gates.sense_lm=false"])
    with pytest.raises(ValueError, match="store"):
        models.generate(cfg, None, posts[:1])
    store = models.author_store(tmp_path / "store", posts[2:])
    out = models.generate(cfg, None, posts[:2], seed=5, store=store)
    assert backend.seeds == [5, 1005, 2005, 6, 1006, 2006]
    assert all(o["candidate_index"] != 0 and not o["body_markdown"].startswith("ㅋ") for o in out)
    assert [len(o["candidate_values"]) for o in out] == [3, 3]
    assert all(o["candidate_values"][0][0] is False for o in out)  # the degenerate one fails a gate
    assert [len(o["candidate_bodies"]) for o in out] == [3, 3] and out[0]["candidate_bodies"][0].startswith("ㅋ")


def test_best_of_n_oracle_counts_topics_where_any_candidate_reads_as_the_author() -> None:
    class Judge:
        def share(self, texts, target):
            hit = [target in x for x in texts]
            return {"plain": sum(hit) / len(hit) if hit else None, "masked": sum(hit) / len(hit) if hit else None}

    post = Post(platform="bench", source_id="alice/0", title="t", body_markdown="alice wrote this " * 5)
    author = SimpleNamespace(name="alice", train=[post], test=[post])
    gens = [{"body_markdown": "x", "candidate_bodies": ["x", "by alice", "y"]},
            {"body_markdown": "y", "candidate_bodies": ["y", "z", "w"]}]
    side = run._generated_side(Judge(), author, SimpleNamespace(usable=False), gens)
    assert side["oracle_masked"] == 0.5 and side["attributed_masked"] == 0.0
    assert "oracle_masked" not in run._generated_side(Judge(), author, SimpleNamespace(usable=False),
                                                       [{"body_markdown": "x"}])


def _seeded_author(tmp_path: Path, monkeypatch) -> tuple[SeededBackend, list[Post], Path]:
    """A SeededBackend in place of every backend, ten posts and a store of the last eight (for best-of-n)."""
    import bot.voice.generate as g

    backend = SeededBackend()
    monkeypatch.setattr(g, "load_backend", lambda cfg, adapter=None: backend)
    posts = [Post(platform="bench", source_id=f"k/{i}", title=f"일기 {i}",
                  body_markdown=" ".join(KO[(i + k) % 2] for k in range(4))) for i in range(10)]
    return backend, posts, models.author_store(tmp_path / "store", posts[2:])


def _run(gens: list[dict], n: int, seed: int) -> dict:
    """A run's corpus result with only what selection.extend reads: its recipe, seed and alice's generations."""
    return {"model_config": {"generate": {"n_candidates": n}, "seed": seed},
            "targets": {"alice": {"adapter": {"generations": gens}}}}


def _saved(path: Path, c: dict) -> Path:
    path.write_text(json.dumps({"corpora": [c]}), encoding="utf-8")
    return path


def test_a_run_continuing_the_seeds_replays_as_one_larger_best_of_n(tmp_path: Path, monkeypatch) -> None:
    """bench/style/selection --with: a best-of-3 run at --seed s and one at s + 3000 draw exactly the candidates of one
    best-of-6 run at s, and are merged topic by topic; a run of another seed or recipe is refused, naming its file."""
    from bench.style import selection

    backend, posts, store = _seeded_author(tmp_path, monkeypatch)
    six = models.apply_settings(Config(), ["generate.n_candidates=6", "gates.sense_lm=false"])
    models.generate(six, None, posts[:2], seed=5, store=store)
    seeds_six, backend.seeds = backend.seeds, []
    three = models.apply_settings(Config(), ["generate.n_candidates=3", "gates.sense_lm=false"])
    first = models.generate(three, None, posts[:2], seed=5, store=store)
    more = models.generate(three, None, posts[:2], seed=5 + 3 * models.CANDIDATE_SEED_STEP, store=store)
    assert sorted(backend.seeds) == sorted(seeds_six)

    c = _run(first, 3, 5)
    selection.extend(c, [_saved(tmp_path / "more.json", _run(more, 3, 3005))], "adapter")
    got = c["targets"]["alice"]["adapter"]["generations"]
    assert [len(x["candidate_bodies"]) for x in got] == [6, 6]
    assert got[0]["candidate_bodies"][3:] == more[0]["candidate_bodies"]
    with pytest.raises(SystemExit, match="same.json.*--seed 3005"):
        selection.extend(_run(first, 3, 5), [_saved(tmp_path / "same.json", _run(more, 3, 5))], "adapter")
    with pytest.raises(SystemExit, match="topics differ"):
        selection.extend(_run(first, 3, 5), [_saved(tmp_path / "other.json", _run(more[::-1], 3, 3005))], "adapter")


def test_a_one_draft_run_continued_by_a_best_of_two_replays_as_one_best_of_three(tmp_path: Path, monkeypatch) -> None:
    """bench/style/selection --with on a one-draft run (which stores its draft, not its candidates): its draft is
    candidate 0, and a best-of-2 run at --seed s + 1000 adds candidates 1 and 2, the seeds of one best-of-3 run at s;
    a continuation at s + 2000 (as if the base had drawn two) is refused."""
    from bench.style import selection

    _, posts, store = _seeded_author(tmp_path, monkeypatch)
    three = models.apply_settings(Config(), ["generate.n_candidates=3", "gates.sense_lm=false"])
    whole = models.generate(three, None, posts[:2], seed=5, store=store)
    one = models.generate(models.apply_settings(Config(), ["generate.n_candidates=1", "gates.sense_lm=false"]), None,
                          posts[:2], seed=5)
    two = models.generate(models.apply_settings(Config(), ["generate.n_candidates=2", "gates.sense_lm=false"]), None,
                          posts[:2], seed=5 + models.CANDIDATE_SEED_STEP, store=store)

    c = _run(one, 1, 5)
    selection.extend(c, [_saved(tmp_path / "two.json", _run(two, 2, 1005))], "adapter")
    assert [x["candidate_bodies"] for x in c["targets"]["alice"]["adapter"]["generations"]] == \
        [x["candidate_bodies"] for x in whole]
    with pytest.raises(SystemExit, match="late.json.*--seed 1005"):
        selection.extend(_run(one, 1, 5), [_saved(tmp_path / "late.json", _run(two, 2, 2005))], "adapter")


def test_replayed_choices_say_whether_the_kept_drafts_meet_the_distance_target() -> None:
    """bench/style/selection, per rule and per k: the kept drafts' median distance against the target bench/style/run.py
    sets (the author's held-out posts cut to the drafts' median length: their distance + their spread), met for the
    author's own posts and not for another author's."""
    from bench.style import selection

    authors = {a.name: a for a in metrics.split(metrics.load_folder(metrics.KOREAN_REAL))}
    limit = selection._limit(authors["jonghyeon"], list(authors.values()))  # a tight author: 0.34 ± 0.26
    own = [metrics.text(p) for p in authors["jonghyeon"].test]
    other = [metrics.text(p) for p in authors["psmin1994"].test]
    for texts in (own, other):
        ref = metrics.own_at_length(limit[0], own, texts)
        assert selection._target(limit, texts) == ref["distance_own_at_length"] + ref["distance_own_at_length_spread"]
    assert selection._distance(limit, own).endswith(f"≤ {selection._target(limit, own):.2f} ✓")
    assert selection._distance(limit, other).endswith(f"> {selection._target(limit, other):.2f} ✗")


def test_the_replay_without_topic_adherence_orders_by_the_voice_and_keeps_the_gates_first() -> None:
    """bench/style/selection --as-run's third choice: pick_best's order with topic adherence no longer multiplying
    the voice. A closer voice off the topic wins there and loses in the product's order; the gates and the copy
    preference still come first in both."""
    from bench.style import selection
    from bot.voice.style import select

    def cand(i: int, voice: float, topic: float, passed: bool = False, copy_ok: bool = True) -> dict:
        return {"index": i, "passed": passed, "copy_within_yours": copy_ok,
                "score": {"closeness": voice, "p_masked": voice, "topic_overlap": topic}}

    on_topic, closer_voice = cand(0, 0.5, 0.9), cand(1, 0.8, 0.4)
    assert max([on_topic, closer_voice], key=select.order) is on_topic  # 0.45 against 0.32
    assert max([on_topic, closer_voice], key=selection.order_without_topic) is closer_voice
    passing = cand(2, 0.1, 0.1, passed=True)
    assert max([on_topic, closer_voice, passing], key=selection.order_without_topic) is passing
    copying = cand(3, 0.9, 0.9, copy_ok=False)
    assert max([copying, closer_voice], key=selection.order_without_topic) is closer_voice
    assert closer_voice["score"]["topic_overlap"] == 0.4  # the detail itself is left as it was


def test_background_bench_ranks_each_author_against_each_builtin_background(capsys) -> None:
    """bench/style/background on the English background's own authors as the corpus: one row per target author with an
    AUC per background and figure; the English background tells an essayist from the other essayists better than a
    coin (fit() leaves the author's training essays out of it; the held-out ones stay, which only makes it harder)."""
    from bench.style import background
    from bot.voice.style.voice import BUILTIN_BACKGROUNDS

    assert background.auc([2.0, 3.0], [1.0, 2.0]) == pytest.approx(0.875)
    assert background.main(["--corpus", str(BUILTIN_BACKGROUNDS["en"]), "--authors", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[1].strip("|").split("|")]
    row = [c.strip() for c in lines[3].strip("|").split("|")]
    assert header[2:] == ["en p_masked", "en closeness", "en value", "ko p_masked", "ko closeness", "ko value"]
    assert row[0] == "qq" and float(row[header.index("en p_masked")]) > 0.5
    with pytest.raises(SystemExit, match="no such folder"):
        background.main(["--corpus", "/nonexistent/corpus"])
