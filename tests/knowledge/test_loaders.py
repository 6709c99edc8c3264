from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnivox.knowledge import loaders
from omnivox.knowledge.chunking import ChunkingSettings, chunk_document

MARKDOWN = """# Returns

Source URL: https://help.acme.example/returns

Intro paragraph about returns.

## Window

You have **60 days**.
Really, 60. See [the form](https://help.acme.example/form).

- Unworn items only
- Tags attached

## Exceptions

### Final sale

Items ending in .97 cannot be returned.
"""


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica (hand-built, valid xref)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_markdown_keeps_headings_lists_and_url(tmp_path: Path) -> None:
    path = tmp_path / "returns.md"
    path.write_text(MARKDOWN)
    [doc] = loaders.load(path, "returns.md")
    assert doc.title == "Returns" and doc.url == "https://help.acme.example/returns"
    paths = [s.heading_path for s in doc.sections]
    assert paths == [(), ("Window",), ("Exceptions", "Final sale")]
    assert doc.sections[1].blocks == (
        "You have 60 days. Really, 60. See the form (https://help.acme.example/form).",
        "- Unworn items only",
        "- Tags attached",
    )


def test_chunks_respect_sections_and_size(tmp_path: Path) -> None:
    path = tmp_path / "returns.md"
    path.write_text(MARKDOWN)
    [doc] = loaders.load(path, "returns.md")
    chunks = chunk_document(doc, ChunkingSettings(max_words=8))
    assert all(len(c.text.split()) <= 8 for c in chunks)
    assert {c.heading_path for c in chunks} == {(), ("Window",), ("Exceptions", "Final sale")}
    assert chunks[0].embed_text.startswith("Returns\n")
    final = [c for c in chunks if c.heading_path == ("Exceptions", "Final sale")]
    assert final[0].embed_text.startswith("Returns > Exceptions > Final sale\n")
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_html_structure_and_canonical_url(tmp_path: Path) -> None:
    path = tmp_path / "care.html"
    path.write_text("""<html><head><title>Care</title>
        <link rel="canonical" href="https://help.acme.example/care"><style>p{}</style></head>
        <body><nav>menu</nav><h1>Product care</h1><h2>Down jackets</h2>
        <p>Wash cold on a gentle cycle.</p><ul><li>Tumble dry low</li></ul>
        <script>alert(1)</script></body></html>""")
    [doc] = loaders.load(path, "care.html")
    assert doc.title == "Product care" and doc.url == "https://help.acme.example/care"
    assert doc.sections[0].heading_path == ("Down jackets",)
    assert "Wash cold on a gentle cycle." in doc.text and "alert" not in doc.text
    assert "menu" not in doc.text


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    path = tmp_path / "warranty.pdf"
    path.write_bytes(minimal_pdf("Acme gear carries a three year warranty."))
    [doc] = loaders.load(path, "warranty.pdf")
    assert "three year warranty" in doc.text
    assert doc.sections[0].heading_path == ("Page 1",)


def test_csv_faq_and_jsonl(tmp_path: Path) -> None:
    faq = tmp_path / "faq.csv"
    faq.write_text("id,Question,Answer\nq1,Do you ship to Canada?,Yes: $19.95.\n,,\n")
    docs = loaders.load(faq, "faq.csv")
    assert [d.source_id for d in docs] == ["faq.csv#q1"]
    assert docs[0].title == "Do you ship to Canada?"
    assert docs[0].text == "Do you ship to Canada?\nYes: $19.95."
    assert docs[0].faq and docs[0].record
    lines = tmp_path / "kb.jsonl"
    lines.write_text(
        json.dumps(
            {
                "id": "doc-7",
                "title": "Licenses",
                "text": "Renew online.",
                "url": "https://dmv.example/renew",
                "domain": "dmv",
            }
        )
        + "\n"
        + json.dumps({"text": "No id here."})
        + "\n"
        + json.dumps(
            {
                "id": "q9",
                "question": "Can I return sale items?",
                "answer": "Yes.\n\nWithin 30 days.",
                "url": "https://x.example/q9",
                "topic": "returns",
            }
        )
        + "\n"
    )
    first, second, third = loaders.load(lines, "kb.jsonl")
    assert not first.faq and not second.faq
    assert (third.source_id, third.title, third.url, third.faq) == (
        "q9",
        "Can I return sale items?",
        "https://x.example/q9",
        True,
    )
    assert third.text == "Can I return sale items?\nYes.\n\nWithin 30 days."
    assert third.metadata == {"topic": "returns"}
    assert (first.source_id, first.title, first.url) == (
        "doc-7",
        "Licenses",
        "https://dmv.example/renew",
    )
    assert first.metadata == {"domain": "dmv"}
    assert second.source_id == "kb.jsonl:2"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("bad.jsonl", b'{"text": "ok"}\n{not json}\n', "bad.jsonl:2"),
        ("bad2.jsonl", b'{"title": "no text"}\n', "'text'"),
        ("bad3.jsonl", b'{"question": "Why?", "answer": " "}\n', "'question' and 'answer'"),
        ("bad4.jsonl", b'["a list"]\n', "bad4.jsonl:1: each line must be a JSON object"),
        ("nofaq.csv", b"a,b\n1,2\n", "'question' and 'answer'"),
        ("noanswer.csv", b"question,answer\nQ1?,Yes.\n,,\nQ2?, \n", "noanswer.csv:4: the answer"),
        ("noquestion.csv", b"id,question,answer\nq1,,Yes.\n", "noquestion.csv:2: the question"),
        ("dash.csv", b"question,answer\nQ1?,Yes.\nWhat?,---\n", "dash.csv:3: the answer has no"),
        ("image.png", b"\x89PNG", "unsupported"),
    ],
)
def test_bad_files_raise_load_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(loaders.LoadError) as info:
        loaders.load(path, name)
    assert name in str(info.value) and message in str(info.value)


def test_plain_text_headings_and_no_lost_lines() -> None:
    doc = loaders.parse_plain(
        "Intro paragraph.\n\nRenewing a License\n\nRenew online or by mail.\n\n"
        "<del>old</del>\n\nuse ~~tildes~~",
        "faq-1",
        "Strikethrough",
    )
    assert [s.heading_path for s in doc.sections] == [(), ("Renewing a License",)]
    assert doc.sections[1].blocks == (
        "Renew online or by mail.",
        "<del>old</del>",
        "use ~~tildes~~",
    )
    trailing = loaders.parse_plain("Some text.\n\nFinal Words", "x", "T")
    assert "Final Words" in trailing.text


def test_short_records_stay_whole_long_ones_are_chunked(tmp_path: Path) -> None:
    lines = tmp_path / "faq.jsonl"
    long_text = "\n\n".join(f"Paragraph {i} has a few words in it." for i in range(60))
    lines.write_text(
        json.dumps({"id": "short", "title": "Q", "text": "Question?\n\n" + "Answer. " * 30})
        + "\n"
        + json.dumps({"id": "long", "text": long_text})
    )
    short, long = loaders.load(lines, "faq.jsonl")
    assert short.record and len(chunk_document(short, ChunkingSettings(max_words=20))) == 1
    assert len(chunk_document(long, ChunkingSettings(max_words=20))) > 1


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.domain)//",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "https:///no-host",
        "//evil.example/x",
        "http://a b.example",
        42,
    ],
)
def test_only_web_urls_are_kept_from_knowledge_files(tmp_path: Path, url: object) -> None:
    """A URL becomes a link in citations, the widget and the console: never a script one."""
    (tmp_path / "f.jsonl").write_text(
        json.dumps({"question": "Ship to Canada?", "answer": "Yes.", "url": url})
        + "\n"
        + json.dumps({"id": "d", "text": "Some text.", "url": url})
        + "\n"
    )
    (tmp_path / "f.csv").write_text(f"question,answer,url\nQ?,A.,{json.dumps(str(url))}\n")
    href = str(url).replace('"', "&quot;")
    (tmp_path / "f.html").write_text(
        f'<html><head><link rel="canonical" href="{href}"><title>T</title></head>'
        "<body><p>Body text here.</p></body></html>"
    )
    docs = [
        d for name in ("f.jsonl", "f.csv", "f.html") for d in loaders.load(tmp_path / name, name)
    ]
    assert len(docs) == 4 and all(d.url is None for d in docs)


def test_web_urls_are_kept(tmp_path: Path) -> None:
    line = {"id": "d", "text": "Some text.", "url": " https://acme.example/returns?x=1 "}
    (tmp_path / "f.jsonl").write_text(json.dumps(line) + "\n")
    assert (
        loaders.load(tmp_path / "f.jsonl", "f.jsonl")[0].url == "https://acme.example/returns?x=1"
    )


def test_html_keeps_every_visible_text_once_in_order(tmp_path: Path) -> None:
    """Text outside p/li/td is kept, and a <p> inside a list item or cell is not doubled."""
    path = tmp_path / "returns.html"
    path.write_text(
        "<html><head><title>Page</title></head><body><nav>Menu</nav><h1>Returns</h1>"
        "<div>Returns are accepted within 45 days of <b>deliv</b>ery.</div>"
        "<section>Refunds are issued to the original payment method.</section>"
        "<blockquote><p>Quoted tip about waterproofing boots.</p></blockquote>"
        "<ul><li><p>Item one about tents.</p></li><li>Item two<ul><li>nested</li></ul></li></ul>"
        "<table><tr><th>Bag</th><th>Rating</th></tr>"
        "<tr><td><p>Cell about sleeping bags.</p></td><td>-5&deg;C<br>23&deg;F</td></tr></table>"
        "<h2>Install</h2><pre>\n# download the package\ncurl -O https://x.example/pkg\n</pre>"
        "<p>Then run <code>pkg --init</code>.<!-- a comment --></p>"
        "<noscript>Enable JS</noscript><footer>Copyright</footer></body></html>"
    )
    [doc] = loaders.load(path, "returns.html")
    assert doc.title == "Returns"
    assert [s.heading_path for s in doc.sections] == [(), ("Install",)]
    assert doc.sections[0].blocks == (
        "Returns are accepted within 45 days of delivery.",
        "Refunds are issued to the original payment method.",
        "Quoted tip about waterproofing boots.",
        "- Item one about tents.",
        "- Item two",
        "  - nested",
        "Bag | Rating",
        "Cell about sleeping bags. | -5°C 23°F",
    )
    assert doc.sections[1].blocks == (
        "# download the package\ncurl -O https://x.example/pkg",
        "Then run pkg --init.",
    )
    for hidden in ("Menu", "Enable JS", "Copyright", "comment", "Page"):
        assert hidden not in doc.text


def test_html_text_after_a_nested_list_stays_in_its_list_item(tmp_path: Path) -> None:
    """It lost its item: "Refunds go to the original card." read as a paragraph of its own."""
    path = tmp_path / "returns.html"
    path.write_text(
        "<h1>Returns</h1><ul><li>Returns<ul><li>Unworn within 30 days</li>"
        "<li>Tags attached<ol><li>Price tag</li></ol></li></ul>"
        "Refunds go to the original card.</li><li><p>Exchanges</p><p>Free in store.</p></li></ul>"
        "<p>After the list.</p>"
    )
    [doc] = loaders.load(path, "returns.html")
    assert doc.sections[0].blocks == (
        "- Returns",
        "  - Unworn within 30 days",
        "  - Tags attached",
        "    - Price tag",
        "  Refunds go to the original card.",
        "- Exchanges",
        "  Free in store.",
        "After the list.",
    )
    [chunk] = chunk_document(doc)
    assert chunk.text == "\n".join(doc.sections[0].blocks)  # the indentation survives chunking


def test_a_long_html_pre_keeps_its_line_breaks_in_every_chunk(tmp_path: Path) -> None:
    """A code block over the chunk size was cut as prose: its lines joined by spaces."""
    lines = [f"curl -X POST https://api.acme.example/returns/{n} -d reason=size" for n in range(40)]
    path = tmp_path / "api.html"
    path.write_text(f"<h1>API</h1><pre>\n{chr(10).join(lines)}\n</pre>")
    [doc] = loaders.load(path, "api.html")
    chunks = chunk_document(doc, ChunkingSettings(max_words=40))
    code = [c.text for c in chunks if "curl" in c.text]
    assert len(code) > 1 and all(len(c.split()) <= 40 for c in code)
    assert "\n".join(code).split("\n") == lines  # cut between lines, each line whole
    assert chunk_document(doc)[0].text.startswith(f"{lines[0]}\n{lines[1]}\n")


def test_markdown_code_fences_are_content_not_headings(tmp_path: Path) -> None:
    path = tmp_path / "install.md"
    path.write_text(
        "# Install\n\n## Linux\n\nRun:\n\n```bash\n# download the package\n"
        "curl -O https://x.example/pkg  # `quoted` **not bold**\n\n    pkg --init\n```\n\n"
        "Then log in.\n\n1. Or by hand:\n\n   ~~~\n   ## not a heading\n   ```\n   ~~~\n\n"
        "## Windows\n\n```\nunclosed: runs to the end\n# still code\n"
    )
    [doc] = loaders.load(path, "install.md")
    assert [s.heading_path for s in doc.sections] == [("Linux",), ("Windows",)]
    assert doc.sections[0].blocks == (
        "Run:",
        "# download the package\ncurl -O https://x.example/pkg  # `quoted` **not bold**\n\n"
        "    pkg --init",
        "Then log in.",
        "1. Or by hand:",
        "## not a heading\n```",
    )
    assert doc.sections[1].blocks == ("unclosed: runs to the end\n# still code",)
