#!/usr/bin/env bash
# Fails when a tracked file is a build output: an executable binary (ELF,
# Mach-O, PE or a Go archive), or any file larger than 1 MiB outside the
# test data folders listed below. Built things belong in bin/ or .tools/,
# which .gitignore ignores.
set -euo pipefail
cd "$(dirname "$0")/.."

max_bytes=$((1 << 20))
# Large files allowed here: fixtures that tests load as they are.
allowed_large='(^|/)testdata/|^test/corpus/'

status=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue # deleted in the work tree
	magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
	case "$magic" in
	7f454c46 | cffaedfe | cefaedfe | feedfacf | feedface | 4d5a*)
		echo "tracked binary: $f (build outputs go in bin/ or .tools/; git rm --cached it)"
		status=1
		continue
		;;
	esac
	size=$(stat -c %s "$f")
	if [ "$size" -gt "$max_bytes" ] && ! [[ "$f" =~ $allowed_large ]]; then
		echo "tracked file over 1 MiB: $f ($size bytes; test data goes under a testdata/ folder)"
		status=1
	fi
done < <(git ls-files -z)
exit $status
