#!/usr/bin/env python3
"""The docs' code is code that compiles: every ```cpp, ```proto and ```cmake block of README.md and
docs/OPERATIONS.md must appear in a file the build compiles (examples/readme_snippets.cc) or in
the README's tutorial project (tests/consumer/, which a test builds and runs).

Blocks are compared without whitespace and comments (prose, not code). A block may elide with a
line or part of a line `...`: each piece around it must appear. A block preceded by
`<!-- unchecked ... -->` is not checked (say why in the comment).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ["README.md", "docs/OPERATIONS.md"]
SOURCES = ["examples/readme_snippets.cc", "tests/consumer/member.cc", "tests/consumer/client.cc",
           "tests/consumer/counter.proto", "tests/consumer/CMakeLists.txt"]
LANGUAGES = {"cpp": "//", "proto": "//", "cmake": "#"}


def strip(code, comment):
    """Removes comments (outside string literals) and all whitespace."""
    out = []
    in_string = False
    i = 0
    while i < len(code):
        c = code[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < len(code):
                out.append(code[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif code.startswith(comment, i) and not (comment == "#" and code.startswith("#include", i)):
            while i < len(code) and code[i] != "\n":
                i += 1
            continue
        elif not c.isspace():
            out.append(c)
        i += 1
    return "".join(out)


def blocks(path):
    lines = (ROOT / path).read_text().splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^```(\w+)\s*$", lines[i])
        if not match:
            i += 1
            continue
        language, start = match.group(1), i
        i += 1
        body = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        unchecked = any("<!-- unchecked" in lines[j] for j in range(max(0, start - 2), start))
        if language in LANGUAGES and not unchecked:
            yield path, start + 1, language, "\n".join(body)
        i += 1


def main():
    sources = {comment: "".join(strip((ROOT / s).read_text(), comment) for s in SOURCES)
               for comment in set(LANGUAGES.values())}
    checked = failed = 0
    for path, line, language, body in (b for doc in DOCS for b in blocks(doc)):
        comment = LANGUAGES[language]
        for piece in body.split("..."):
            code = strip(piece, comment)
            if len(code) < 2:
                continue
            checked += 1
            if code not in sources[comment]:
                failed += 1
                print(f"{path}:{line}: this {language} is in no compiled source:\n{piece.strip()}\n")
    print(f"{checked - failed} passed, {failed} failed")
    return 1 if failed or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
