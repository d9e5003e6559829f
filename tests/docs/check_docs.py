#!/usr/bin/env python3
"""Checks that the documentation matches the tree and the code.

  check_docs.py paths ROOT          every repository path named in README.md, docs/*.md, examples/ and in the
                                    comments of the sources exists under ROOT; every `file:Function` reference
                                    names a function defined (or declared) in that file; every `file:N` line
                                    number is inside the file; every relative Markdown link resolves.
  check_docs.py figures ROOT PROGRAM every line PROGRAM prints (but its last) is a line of docs/selective_scan.md
                                    (PROGRAM: example_scan_memory)
  check_docs.py shapes ROOT LIEDNET the stage-shape table of docs/architecture.md equals `LIEDNET info` for both
                                    presets at 256x256.

Prints one line per problem and exits 1 when there is any.
"""
import os
import re
import subprocess
import sys

TOP = ("autograd", "bench", "cli", "configs", "data", "docs", "examples", "liednet", "nn", "ops", "scripts",
       "tensor", "tests", "tools", "train", "python")
SOURCE_EXT = (".h", ".cpp", ".cu", ".cuh", ".py", ".sh", ".yml", ".cmake", ".txt")
# a path like ops/ss2d_scan.cpp, liednet/explain.{h,cpp}, tests/oracle/, optionally :Function or :123
PATH_RE = re.compile(r"(?<![\w./+-])((?:%s)/[\w./{},+-]*[\w/}])(?::([A-Za-z_][\w:~]*|\d+))?" % "|".join(TOP))
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")


def expand(path):
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    out = []
    for alt in m.group(1).split(","):
        out += expand(path[:m.start()] + alt + path[m.end():])
    return out


def comment_text(path, text):
    """The comment parts of a source file (the whole text for scripts and configs)."""
    if path.endswith((".h", ".cpp", ".cu", ".cuh")):
        return "\n".join(m.group(1) for m in re.finditer(r"//(.*)", text))
    if path.endswith((".py", ".sh", ".yml", ".cmake", ".txt")):
        return "\n".join(m.group(1) for m in re.finditer(r"#(.*)", text))
    return text


def defines(text, func):
    """Whether `text` defines or declares `func` (Class::method or a plain name)."""
    parts = func.split("::")
    name = parts[-1]
    if len(parts) > 1:
        cls = parts[-2]
        if re.search(r"\b%s::%s\s*\(" % (re.escape(cls), re.escape(name)), text):
            return True
        # declared inside its class in a header
        m = re.search(r"\b(?:class|struct)\s+%s\b[^;{]*\{" % re.escape(cls), text)
        return bool(m and re.search(r"\b%s\s*\(" % re.escape(name), text[m.end():]))
    return bool(re.search(r"(?:^|[\s*&:>])%s\s*(?:<[^;{}()]*>)?\(" % re.escape(name), text, re.M)) or bool(
        re.search(r"^def %s\(" % re.escape(name), text, re.M))


# Names that look like repository paths but are not: what a run writes (under its output folder) and the layout
# of a data set.
NOT_REPO_PATHS = {
    "train/curves.svg", "train/train_log.jsonl", "train/val_log.jsonl", "train/models/net_g_latest.safetensors",
    "train/checkpoints/", "train/low_blur_noise/", "train/high_sharp_scaled/",
    "tests/fuzz/regressions/",  # made when the fuzzer finds a failing input, empty otherwise
}


def exists(root, p, glob_tail):
    full = os.path.join(root, p)
    if glob_tail or not os.path.exists(full):
        # ops/cuda_*_test.cpp (a pattern), or ops/ss2d_scan for ops/ss2d_scan.{h,cpp} (a module)
        d, base = os.path.split(full)
        return os.path.isdir(d) and any(f.startswith(base if glob_tail else base + ".") for f in os.listdir(d))
    return True


def check_ref(root, where, raw, func, problems, glob_tail=False):
    raw = raw.rstrip(".,;")
    for p in expand(raw):
        if p in NOT_REPO_PATHS:
            continue
        full = os.path.join(root, p)
        if not exists(root, p, glob_tail):
            problems.append("%s: names %s, which is not in the tree" % (where, p))
            continue
        if func is None or not os.path.isfile(full):
            continue
        text = open(full, encoding="utf-8", errors="replace").read()
        if func.isdigit():
            if int(func) > text.count("\n") + 1:
                problems.append("%s: %s:%s is past the end of the file" % (where, p, func))
        elif not defines(text, func):
            problems.append("%s: %s:%s, no such function in the file" % (where, p, func))


def anchors(md_path):
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in open(md_path, encoding="utf-8").read().split("\n"):
        m = re.match(r"#+ (.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def check_figures(root, program):
    doc = open(os.path.join(root, "docs", "selective_scan.md"), encoding="utf-8").read().split("\n")
    out = subprocess.run([program], capture_output=True, text=True)
    if out.returncode != 0:
        return ["%s failed (exit %d): %s" % (program, out.returncode, out.stdout[-300:])]
    lines = [l for l in out.stdout.strip().split("\n") if l.strip()][:-1]
    return ["docs/selective_scan.md lacks the line '%s' that %s prints" % (l, os.path.basename(program))
            for l in lines if l not in doc]


def tracked_files(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard"], capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip():
        return [f for f in out.stdout.split("\n") if f]
    files = []
    for d, _, fs in os.walk(root):
        files += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    return files


def check_paths(root):
    problems = []
    for rel in sorted(tracked_files(root)):
        if rel.startswith(("tests/fuzz/corpus/", "tests/upstream/", "data/samples/")):
            continue
        full = os.path.join(root, rel)
        if not os.path.isfile(full):
            continue
        is_doc = rel.endswith(".md")
        if not is_doc and not rel.endswith(SOURCE_EXT):
            continue
        text = open(full, encoding="utf-8", errors="replace").read()
        scan = text if is_doc else comment_text(rel, text)
        for lineno, line in enumerate(scan.split("\n"), 1):
            where = "%s%s" % (rel, (":%d" % lineno) if is_doc else "")
            for m in PATH_RE.finditer(line):
                path = m.group(1)
                if path.startswith("docs/images/") and "*" in path:
                    continue
                # skip output folders and placeholders (runs/..., report/...), and URLs
                if "://" in line[max(0, m.start() - 40):m.start()]:
                    continue
                glob_tail = line[m.end():m.end() + 1] in ("*", "<")
                check_ref(root, where, path, m.group(2), problems, glob_tail)
            if is_doc:
                for m in LINK_RE.finditer(line):
                    target, _, anchor = m.group(1).partition("#")
                    if "://" in target or target.startswith("mailto:"):
                        continue
                    full_t = os.path.normpath(os.path.join(os.path.dirname(full), target)) if target else full
                    if not os.path.exists(full_t):
                        problems.append("%s: link to %s, which is not in the tree" % (where, target))
                    elif anchor and full_t.endswith(".md") and anchor not in anchors(full_t):
                        problems.append("%s: link to %s#%s, no such heading" % (where, target, anchor))
    return problems


def check_shapes(root, liednet):
    problems = []
    doc = open(os.path.join(root, "docs", "architecture.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| `(\w+)` \|[^|]*\| (\([\d, ]+\)) \| (\([\d, ]+\)) \|$", doc, re.M)
    if len(rows) < 15:
        return ["docs/architecture.md: expected the 15-row stage table, found %d rows" % len(rows)]
    for col, preset in ((1, "liednet"), (2, "liednet-l")):
        out = subprocess.run([liednet, "info", "--preset", preset, "--size", "256", "256"], capture_output=True,
                             text=True, check=True).stdout
        shapes = {}
        for m in re.finditer(r"^(\S+)\s+(\([\d, ]+\))", out, re.M):
            name = m.group(1)
            level = re.sub(r"\.\d+$", "", name)
            shapes[level] = m.group(2)  # a level's output is its last block's
            shapes[name] = m.group(2)
        for row in rows:
            want = shapes.get(row[0])
            if want != row[col]:
                problems.append("docs/architecture.md: %s %s is %s, liednet info says %s" %
                                (preset, row[0], row[col], want))
    return problems


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "paths":
        problems = check_paths(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "figures":
        problems = check_figures(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "shapes":
        problems = check_shapes(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        return 2
    for p in problems:
        print(p)
    print("%d problem(s)" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
