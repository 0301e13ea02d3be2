// Writes capture blocks to a file descriptor on a thread of its own, for `pcap-pipe capture -w FILE`.
//
// Why a thread: the event loop must never wait on a disk (or a slow FIFO), yet handing every batch to JS
// only to have JS pass it to fs.write cost more CPU than libpcap itself (profile of capture -w at 100k
// packets/s: JS stream hand-over, a thread-pool round trip and a fresh Buffer per batch were ~3/4 of it).
// So the loop thread fills blocks from a fixed pool (bounded memory) and queues them; this thread writes
// them in order and gives them back. When every block is queued the loop stops reading the kernel ring
// (which then absorbs the traffic, and its drops are counted as usual) until a block comes back.
//
// Loop thread: Acquire / Submit / Finish / HasFree / TakeError / Done / Join.  Writer thread: Run.
// The writer wakes the loop (`wake`, a uv_async_t send) only when the loop is waiting for a block, on an
// error, and when everything submitted before Finish is written: not once per block.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pcap_pipe {

class BlockWriter {
 public:
  // `fd` is written to, never closed (its owner closes it). `blocks` blocks of `blockBytes` each.
  BlockWriter(int fd, size_t blockBytes, int blocks, std::function<void()> wake);
  ~BlockWriter();  // joins the thread (after Finish it ends once the queue is written)

  size_t blockBytes() const { return blockBytes_; }
  // A free block, or nullptr when all are queued.
  uint8_t* Acquire();
  // A free block, waiting for the thread to give one back when all are queued (the final drain only).
  uint8_t* AcquireWait();
  // Queues the first `used` bytes of a block from Acquire (used may be 0: the block just comes back).
  void Submit(uint8_t* block, size_t used);
  // Nothing more will be submitted: the thread writes what is queued, then wakes the loop and ends.
  void Finish();
  bool HasFree();
  // The first write error ("No space left on device"); empty when none. After an error, blocks are
  // returned unwritten.
  std::string Error();
  // True once Finish was called and everything queued has been written (or dropped after an error).
  bool Done();
  void Join();

 private:
  void Run();
  bool WriteAll(const uint8_t* data, size_t length);

  int fd_;
  size_t blockBytes_;
  std::function<void()> wake_;
  std::vector<std::vector<uint8_t>> storage_;

  std::mutex mutex_;
  std::condition_variable queued_;
  std::condition_variable freed_;
  std::vector<uint8_t*> free_;
  std::deque<std::pair<uint8_t*, size_t>> queue_;
  bool finishing_ = false;
  bool done_ = false;
  bool waiting_ = false;  // Acquire found no block: wake the loop when one is free
  std::string error_;
  std::thread thread_;
};

}  // namespace pcap_pipe
