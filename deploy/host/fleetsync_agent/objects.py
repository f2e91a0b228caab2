"""Published content: objects by SHA-256 at objects/ab/<sha256> (objects/<sha256> in stores published before
sharding), downloaded once, checked before use."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from common import OBJECTS_FOLDER, SPARE_BYTES, file_digest, flat_object_key, object_key

# Measured against s3rver (README, "On the host"): an aws process costs about half a second of CPU to start, and the
# CLI checks every listed key against every --include (about 20 us a pair). So up to EXACT_KEY_OBJECTS objects go by
# exact key (a few processes, no listing: a routine deploy moves only what changed, whatever the store holds); more
# list the store once, and are picked from a store of up to SMALL_STORE objects by includes in one process, or from a
# larger one shard by shard (objects/ab/), or come as the whole store when they are most of it.
SMALL_STORE = 16384
EXACT_KEY_OBJECTS = 32
# aws CLI processes at a time: each is CPU-bound while it starts, so more would only queue.
PARALLEL_PROCESSES = 8
# The store is synced whole when it holds at most this many times the objects needed (a new host's first sync).
WHOLE_STORE_FACTOR = 4


class ObjectsMixin:
    def fetch_objects(self, shas, sizes):
        """Downloads the objects named into WORK/o; returns sha -> path of those that arrived and match."""
        odir = self.work + '/o'
        os.makedirs(odir, exist_ok=True)
        need = sorted(shas)
        if self.objects.startswith('s3://'):
            self.download_objects(need, odir)
        else:
            os.makedirs(os.path.join(odir, OBJECTS_FOLDER), exist_ok=True)
            for sha in need:
                for key in (object_key(sha), flat_object_key(sha)):
                    os.makedirs(os.path.dirname(os.path.join(odir, key)), exist_ok=True)
                    try:
                        shutil.copyfile(self.root + key, os.path.join(odir, key), follow_symlinks=False)
                        break
                    except OSError:
                        continue
        got, moved, moved_bytes = {}, 0, 0
        for sha in need:
            path = self.landed(odir, sha)
            if path is not None:
                self.hashed += 1
                if file_digest(path) == sha:
                    got[sha] = path
                    continue
            self.fail('object %s is missing from %s or does not match its SHA-256: delete it and publish %s again'
                      % (sha, self.objects, self.revision))
        for top, _, files in os.walk(odir):
            for name in files:
                moved += 1
                moved_bytes += os.lstat(os.path.join(top, name)).st_size
        self.counts['downloadedFiles'] = moved
        self.counts['downloadedBytes'] = moved_bytes
        return got

    @staticmethod
    def landed(odir, sha):
        """Where a downloaded object is: under its sharded key, else its flat one; None when it did not come."""
        for key in (object_key(sha), flat_object_key(sha)):
            path = os.path.join(odir, key)
            if os.path.isfile(path) and not os.path.islink(path):
                return path
        return None

    def free_bytes(self):
        st = os.statvfs(self.fs)
        return st.f_bavail * st.f_frsize

    def download_objects(self, need, odir):
        """A routine deploy (up to EXACT_KEY_OBJECTS objects) fetches each object by its exact key and lists nothing,
        so it moves what changed whatever the store holds. More (a new host, a large change) list the store once:
        it is synced whole when the objects needed are most of it, else they are picked by includes (a small store)
        or fetched shard by shard with the includes of that shard only."""
        m = len(need)
        if m <= EXACT_KEY_OBJECTS:
            self.log('%d objects needed: by exact key, %d at a time, without listing the store' % (m, PARALLEL_PROCESSES))
            self.download_by_key(need, odir)
        else:
            layout = self.store_listing()
            n, total = len(layout), sum(size for _, size in layout.values())
            self.log('%d objects needed; the store holds %d (%d bytes)' % (m, n, total))
            if n <= WHOLE_STORE_FACTOR * m and total + SPARE_BYTES <= self.free_bytes():
                self.log('downloading all %d objects of %s (%d bytes): %d of them are needed' % (n, self.objects, total, m))
                self.aws(['s3', 'sync', self.objects, os.path.join(odir, OBJECTS_FOLDER) + '/', '--only-show-errors',
                          '--no-progress'], 'downloading %s' % self.objects)
                return
            if n <= SMALL_STORE:
                self.log('downloading %d objects by name from the listing' % m)
                self.download_by_includes(need, odir, layout)
            else:
                self.download_by_shard([sha for sha in need if layout.get(sha, ('sharded',))[0] == 'sharded'], odir)
        missing = [sha for sha in need if self.landed(odir, sha) is None]
        if missing:
            self.log('%d objects are not at %sab/<sha256>: fetching them from where stores published before sharding '
                     'keep them (%s<sha256>)' % (len(missing), self.objects, self.objects))
            self.download_flat(missing, odir)

    def download_by_key(self, need, odir, key=object_key):
        for sha in need:
            os.makedirs(os.path.dirname(os.path.join(odir, key(sha))), exist_ok=True)
        self.run_parallel([['s3', 'cp', '--only-show-errors', self.root + key(sha), os.path.join(odir, key(sha))]
                           for sha in need])

    def download_by_includes(self, need, odir, layout):
        """One process over the listing of objects/, 500 objects at a time: each in the layout the listing has it in,
        or in both when there was none."""
        for i in range(0, len(need), 500):
            args = ['s3', 'cp', self.objects, os.path.join(odir, OBJECTS_FOLDER) + '/', '--recursive',
                    '--only-show-errors', '--exclude', '*']
            for sha in need[i:i + 500]:
                where = layout.get(sha, ('sharded',))[0] if layout is not None else 'both'
                if where != 'flat':
                    args += ['--include', '%s/%s' % (sha[:2], sha)]
                if where != 'sharded':
                    args += ['--include', sha]
            self.aws(args, 'downloading objects from %s' % self.objects)

    def store_listing(self):
        """sha -> (layout, size) of every object in the store: one aws process, a request per 1,000 keys."""
        out = self.aws(['s3', 'ls', '--recursive', self.objects], 'listing %s' % self.objects, capture=True)
        _, _, prefix = self.objects[len('s3://'):].partition('/')
        found = {}
        for line in out.split('\n'):
            parts = line.split()
            if len(parts) != 4 or not parts[2].isdigit() or not parts[3].startswith(prefix):
                continue
            rest = parts[3][len(prefix):]
            m = re.fullmatch(r'(?:([0-9a-f]{2})/)?([0-9a-f]{64})', rest)
            if m and (m.group(1) is None or m.group(2).startswith(m.group(1))):
                found[m.group(2)] = ('sharded' if m.group(1) else 'flat', int(parts[2]))
        return found

    def download_by_shard(self, need, odir):
        """A shard with one object needed: that key; with more: its folder, with an include for each."""
        shards = {}
        for sha in need:
            shards.setdefault(sha[:2], []).append(sha)
        commands = []
        for shard, shas in sorted(shards.items()):
            folder = os.path.join(odir, OBJECTS_FOLDER, shard)
            os.makedirs(folder, exist_ok=True)
            if len(shas) == 1:
                commands.append(['s3', 'cp', '--only-show-errors', self.root + object_key(shas[0]),
                                 os.path.join(odir, object_key(shas[0]))])
                continue
            args = ['s3', 'cp', '%s%s/' % (self.objects, shard), folder + '/', '--recursive', '--only-show-errors',
                    '--exclude', '*']
            for sha in shas:
                args += ['--include', sha]
            commands.append(args)
        if commands:
            self.log('downloading %d objects by key: %d aws processes, %d at a time'
                     % (len(need), len(commands), PARALLEL_PROCESSES))
        self.run_parallel(commands)

    def download_flat(self, need, odir):
        """Objects of a store published before sharding, at objects/<sha256>: by exact key when they are few, else by
        includes over the listing (the cost such a store always had)."""
        if len(need) <= EXACT_KEY_OBJECTS:
            self.download_by_key(need, odir, flat_object_key)
            return
        for i in range(0, len(need), 500):
            args = ['s3', 'cp', self.objects, os.path.join(odir, OBJECTS_FOLDER) + '/', '--recursive',
                    '--only-show-errors', '--exclude', '*']
            for sha in need[i:i + 500]:
                args += ['--include', sha]
            self.aws(args, 'downloading objects from %s' % self.objects)

    def run_parallel(self, commands):
        """aws commands, PARALLEL_PROCESSES at a time; one that fails leaves its objects missing, which the caller
        looks for elsewhere or reports."""
        pending = list(reversed(commands))
        running = []
        try:
            while pending or running:
                while pending and len(running) < PARALLEL_PROCESSES:
                    running.append(subprocess.Popen(['aws'] + self.endpoint + pending.pop(), stdin=subprocess.DEVNULL,
                                                    stdout=self.log_fd, stderr=self.log_fd))
                running.pop(0).wait()
        except FileNotFoundError:
            self.fail('the aws CLI is not installed on this host: install it (apt-get install awscli, dnf install '
                      'awscli, or AWS CLI v2)')
        finally:
            for child in running:
                child.kill()
                child.wait()
