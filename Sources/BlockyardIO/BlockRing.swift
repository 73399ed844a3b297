import Foundation

/// A ring of large read buffers shared by one producer and several consumers, each of which
/// sees every block in order. A slot is refilled only after every consumer released it, so
/// memory is fixed (`slots × blockSize`) whatever the input size, and the next read overlaps
/// the hashing of the previous blocks.
final class BlockRing: @unchecked Sendable {
    let slots: Int
    let blockSize: Int
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var lengths: [Int]
    private let condition = NSCondition()
    /// Blocks filled so far.
    private var produced = 0
    /// Blocks released by each consumer.
    private var released: [Int]
    private var ended = false

    init(slots: Int, blockSize: Int, consumers: Int) {
        self.slots = slots
        self.blockSize = blockSize
        buffers = (0..<slots).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64) }
        lengths = Array(repeating: 0, count: slots)
        released = Array(repeating: 0, count: consumers)
    }

    deinit { buffers.forEach { $0.deallocate() } }

    /// Producer: waits for a free slot and returns the buffer for block `index`.
    func slotForWriting(_ index: Int) -> UnsafeMutableRawBufferPointer {
        condition.lock()
        while index - (released.min() ?? index) >= slots { condition.wait() }
        condition.unlock()
        return buffers[index % slots]
    }

    /// Producer: block `index` holds `length` bytes.
    func publish(_ index: Int, length: Int) {
        condition.lock()
        lengths[index % slots] = length
        produced = index + 1
        condition.broadcast()
        condition.unlock()
    }

    /// Producer: no more blocks (end of input or error).
    func end() {
        condition.lock()
        ended = true
        condition.broadcast()
        condition.unlock()
    }

    /// Consumer: waits for block `index`; nil once the input ended before it.
    func block(_ index: Int) -> UnsafeRawBufferPointer? {
        condition.lock()
        defer { condition.unlock() }
        while produced <= index && !ended { condition.wait() }
        guard produced > index else { return nil }
        return UnsafeRawBufferPointer(rebasing: buffers[index % slots][0..<lengths[index % slots]])
    }

    /// Consumer `consumer` is done with block `index`.
    func release(_ index: Int, consumer: Int) {
        condition.lock()
        released[consumer] = index + 1
        condition.broadcast()
        condition.unlock()
    }
}
