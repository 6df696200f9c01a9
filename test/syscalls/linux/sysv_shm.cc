// System V shared memory: shmget, shmat, shmdt, shmctl.
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "test_util.h"

namespace {

TEST(SysVShm, CreateAttachWriteReadDetach) {
  int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
  ASSERT_OK(id);
  char* p = static_cast<char*>(shmat(id, nullptr, 0));
  ASSERT_NE(p, reinterpret_cast<char*>(-1)) << strerror(errno);
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[8191], 0);
  strcpy(p, "hello");
  // A second attachment sees the same memory.
  char* q = static_cast<char*>(shmat(id, nullptr, SHM_RDONLY));
  ASSERT_NE(q, reinterpret_cast<char*>(-1)) << strerror(errno);
  EXPECT_STREQ(q, "hello");
  struct shmid_ds ds = {};
  ASSERT_OK(shmctl(id, IPC_STAT, &ds));
  EXPECT_EQ(ds.shm_segsz, 8192u);
  EXPECT_EQ(ds.shm_nattch, 2u);
  EXPECT_EQ(ds.shm_perm.mode & 0777, 0600u);
  EXPECT_EQ(ds.shm_cpid, getpid());
  ASSERT_OK(shmdt(q));
  ASSERT_OK(shmdt(p));
  ASSERT_OK(shmctl(id, IPC_STAT, &ds));
  EXPECT_EQ(ds.shm_nattch, 0u);
  ASSERT_OK(shmctl(id, IPC_RMID, nullptr));
  EXPECT_ERRNO(EINVAL, shmctl(id, IPC_STAT, &ds));
}

TEST(SysVShm, SharedAcrossFork) {
  int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_OK(id);
  volatile int* p = static_cast<volatile int*>(shmat(id, nullptr, 0));
  ASSERT_NE(p, reinterpret_cast<volatile int*>(-1));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    p[0] = 42;
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(p[0], 42);
  ASSERT_OK(shmdt(const_cast<int*>(p)));
  ASSERT_OK(shmctl(id, IPC_RMID, nullptr));
}

TEST(SysVShm, RemovedSegmentLivesUntilDetached) {
  int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_OK(id);
  int* p = static_cast<int*>(shmat(id, nullptr, 0));
  ASSERT_NE(p, reinterpret_cast<int*>(-1));
  ASSERT_OK(shmctl(id, IPC_RMID, nullptr));
  p[0] = 7;  // still mapped and usable
  EXPECT_EQ(p[0], 7);
  ASSERT_OK(shmdt(p));
}

TEST(SysVShm, KeyedSegments) {
  key_t key = 0x42000000 + getpid();
  int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_OK(id);
  EXPECT_EQ(shmget(key, 4096, 0600), id);
  EXPECT_EQ(shmget(key, 0, 0), id);
  EXPECT_ERRNO(EEXIST, shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
  EXPECT_ERRNO(EINVAL, shmget(key, 8192, 0600));
  ASSERT_OK(shmctl(id, IPC_RMID, nullptr));
  EXPECT_ERRNO(ENOENT, shmget(key, 4096, 0600));
}

TEST(SysVShm, Errors) {
  EXPECT_ERRNO(EINVAL, shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
  EXPECT_ERRNO(EINVAL, (long)shmat(-1, nullptr, 0));
  EXPECT_ERRNO(EINVAL, shmdt(reinterpret_cast<void*>(0x1000)));
  int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_OK(id);
  EXPECT_ERRNO(EINVAL, (long)shmat(id, reinterpret_cast<void*>(0x10001), 0));
  ASSERT_OK(shmctl(id, IPC_RMID, nullptr));
}

}  // namespace
