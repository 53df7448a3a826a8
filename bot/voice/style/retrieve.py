"""Retrieval: the author's past posts most related to a topic, to put into the prompt as examples (an option)."""

from __future__ import annotations

from bot.core.records import Post


def related_posts(posts: list[Post], topic: str, tags: list[str] | None = None, k: int = 3) -> list[Post]:
    """The k posts whose title, tags and body are closest to the topic (tf-idf cosine over content keywords and
    character n-grams); ties and an empty topic fall back to the most recent posts."""
    if k <= 0 or not posts:
        return []
    query = " ".join([topic or "", *(tags or [])]).strip()
    if not query:
        return posts[-k:][::-1]
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    docs = [f"{p.title}\n{' '.join(p.tags)}\n{p.title}\n{p.body_markdown}" for p in posts]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), sublinear_tf=True)
    x = vec.fit_transform(docs)
    sims = linear_kernel(vec.transform([query]), x)[0]
    order = sorted(range(len(posts)), key=lambda i: (-sims[i], -i))
    return [posts[i] for i in order[:k]]
