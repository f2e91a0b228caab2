"""Published content: objects by SHA-256, downloaded once, checked before use."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from common import SPARE_BYTES, file_digest


class ObjectsMixin:
    def fetch_objects(self, shas, sizes):
        """Downloads the objects named into WORK/o; returns sha -> path of those that arrived and match."""
        odir = self.work + '/o'
        os.makedirs(odir, exist_ok=True)
        need = sorted(shas)
        if self.objects.startswith('s3://'):
            self.download_objects(need, odir)
        else:
            for sha in need:
                try:
                    shutil.copyfile(self.objects + sha, os.path.join(odir, sha), follow_symlinks=False)
                except OSError:
                    pass
        got = {}
        for sha in need:
            path = os.path.join(odir, sha)
            if os.path.isfile(path) and not os.path.islink(path):
                self.hashed += 1
                if file_digest(path) == sha:
                    got[sha] = path
                    continue
            self.fail('object %s is missing from %s or does not match its SHA-256: delete it and publish %s again'
                      % (sha, self.objects, self.revision))
        moved = self.counts.get('_storeDownload')
        self.counts.pop('_storeDownload', None)
        self.counts['downloadedFiles'] = moved[0] if moved else len(got)
        self.counts['downloadedBytes'] = moved[1] if moved else sum(sizes[s] for s in got)
        return got

    def free_bytes(self):
        st = os.statvfs(self.fs)
        return st.f_bavail * st.f_frsize

    def download_objects(self, need, odir):
        """The aws CLI checks every listed key against every --include (about 24 us each): fine for a few objects,
        hours for a first sync of a large codebase. So: when most of the store is wanted it is synced whole (if the
        disk has room); a handful from a large store go one process each, 8 at a time; only what is left pays for
        the includes."""
        m, n, total = len(need), 0, 0
        if m > 8:
            listing = self.aws(['s3', 'ls', self.objects], 'listing %s' % self.objects, capture=True)
            for line in listing.split('\n'):
                parts = line.split()
                if len(parts) == 4 and re.fullmatch(r'[0-9a-f]{64}', parts[3]) and parts[2].isdigit():
                    n += 1
                    total += int(parts[2])
        self.log('%d objects needed; the store holds %d (%d bytes)' % (m, n, total))
        if m * n > 200000 and n <= 4 * m and total + SPARE_BYTES <= self.free_bytes():
            self.log('downloading all %d objects of %s (%d bytes): %d of them are needed' % (n, self.objects, total, m))
            self.counts['_storeDownload'] = (n, total)
            self.aws(['s3', 'sync', self.objects, odir + '/', '--only-show-errors', '--no-progress'],
                     'downloading %s' % self.objects)
        elif m * n > 200000 and m <= 64:
            self.log('downloading %d objects of %d, one process each' % (m, n))
            pending = list(need)
            running = []
            while pending or running:
                while pending and len(running) < 8:
                    sha = pending.pop()
                    running.append(subprocess.Popen(
                        ['aws'] + self.endpoint + ['s3', 'cp', '--only-show-errors', self.objects + sha,
                                                   os.path.join(odir, sha)],
                        stdin=subprocess.DEVNULL, stdout=self.log_fd, stderr=self.log_fd))
                running.pop(0).wait()
        else:
            self.log('downloading %d objects by name' % m)
            for i in range(0, m, 500):
                args = ['s3', 'cp', self.objects, odir + '/', '--recursive', '--only-show-errors', '--exclude', '*']
                for sha in need[i:i + 500]:
                    args += ['--include', sha]
                self.aws(args, 'downloading objects from %s' % self.objects)
