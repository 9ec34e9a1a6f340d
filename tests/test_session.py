"""Session helpers that need no Spark."""

from __future__ import annotations

import os
import subprocess
import sys


def test_temporary_dir_is_removed_when_the_process_exits(tmp_path):
    # the checkpoint folder of a session without a configured checkpoint_dir: a process that
    # made one (and wrote into it) leaves nothing behind in the temp folder
    code = ("from bold_spark.session import temporary_dir\n"
            "d = temporary_dir('bold-test-')\n"
            "open(d + '/part-0', 'w').write('x')\n"
            "import os; assert os.path.isfile(d + '/part-0')\n"
            "print(d)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out.startswith(str(tmp_path))
    assert not os.path.exists(out)
    assert list(tmp_path.iterdir()) == []
