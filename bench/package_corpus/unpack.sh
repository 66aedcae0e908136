#!/bin/bash
cd /work/corpus2
for d in dl/sdist_* dl/wheel_*; do [ -d pkgs/${d#dl/*_} ] && continue
  [ -d "$d" ] || continue
  p=${d#dl/sdist_}; p=${p#dl/wheel_}
  for f in "$d"/*; do
    mkdir -p pkgs/$p
    case "$f" in
      *.tar.gz|*.tgz) nice -n 19 tar -xzf "$f" -C pkgs/$p ;;
      *.tar.bz2) nice -n 19 tar -xjf "$f" -C pkgs/$p ;;
      *.zip|*.whl) nice -n 19 python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$f" pkgs/$p ;;
      *) echo "unknown archive $f";;
    esac
  done
done
