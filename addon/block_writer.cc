#include "block_writer.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pcap_pipe {

BlockWriter::BlockWriter(int fd, size_t blockBytes, int blocks, std::function<void()> wake)
    : fd_(fd), blockBytes_(blockBytes), wake_(std::move(wake)), storage_(static_cast<size_t>(blocks)) {
  for (auto& block : storage_) {
    block.resize(blockBytes_);
    free_.push_back(block.data());
  }
  thread_ = std::thread(&BlockWriter::Run, this);
}

BlockWriter::~BlockWriter() {
  Finish();
  Join();
}

uint8_t* BlockWriter::Acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_.empty()) {
    waiting_ = true;  // wake the loop when one comes back
    return nullptr;
  }
  uint8_t* block = free_.back();
  free_.pop_back();
  return block;
}

uint8_t* BlockWriter::AcquireWait() {
  std::unique_lock<std::mutex> lock(mutex_);
  freed_.wait(lock, [this] { return !free_.empty(); });
  uint8_t* block = free_.back();
  free_.pop_back();
  return block;
}

void BlockWriter::Submit(uint8_t* block, size_t used) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (used == 0 || !error_.empty()) {
      free_.push_back(block);
      return;
    }
    queue_.emplace_back(block, used);
  }
  queued_.notify_one();
}

void BlockWriter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finishing_ = true;
  }
  queued_.notify_one();
}

bool BlockWriter::HasFree() {
  std::lock_guard<std::mutex> lock(mutex_);
  return !free_.empty();
}

std::string BlockWriter::Error() {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

bool BlockWriter::Done() {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

void BlockWriter::Join() {
  if (thread_.joinable()) thread_.join();
}

void BlockWriter::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    queued_.wait(lock, [this] { return !queue_.empty() || finishing_; });
    if (queue_.empty()) break;  // finishing and all written
    auto [block, used] = queue_.front();
    queue_.pop_front();
    bool failed = !error_.empty();
    lock.unlock();
    std::string error;
    if (!failed && !WriteAll(block, used)) error = std::strerror(errno);
    lock.lock();
    bool wake = waiting_ || (!error.empty() && error_.empty());
    if (!error.empty() && error_.empty()) error_ = error;
    free_.push_back(block);
    freed_.notify_one();
    waiting_ = false;
    if (wake) {  // the loop waits for this block, or has an error to report
      lock.unlock();
      wake_();
      lock.lock();
    }
  }
  done_ = true;
  lock.unlock();
  wake_();
}

bool BlockWriter::WriteAll(const uint8_t* data, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd_, data, length);
    if (n > 0) {
      data += n;
      length -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking descriptor (a FIFO shared with the loop): wait here, on this thread, for room.
      pollfd p{fd_, POLLOUT, 0};
      poll(&p, 1, -1);
    } else {
      if (n == 0) errno = EIO;
      return false;
    }
  }
  return true;
}

}  // namespace pcap_pipe
