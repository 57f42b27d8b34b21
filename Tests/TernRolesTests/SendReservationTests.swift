import TernProtocol
@testable import TernRoles
import Testing

@Suite("SendReservation")
struct SendReservationTests {
    @Test("the send reservation stops the sender at the grant and asks for more once, at half a step")
    func sendReservation() throws {
        var requests = SequenceReservationRequests()
        let reservation = SendReservation(grantedThrough: SendReservation.step)
        let id = try #require(SecurityParameterIndex(rawValue: 9))
        #expect(reservation.mayUse(after: 0, spi: id, requesting: &requests))
        #expect(requests.pending.isEmpty)
        #expect(reservation.mayUse(after: SendReservation.step / 2, spi: id, requesting: &requests))
        #expect(reservation.mayUse(after: SendReservation.step / 2 + 1, spi: id, requesting: &requests))
        #expect(requests.pending.count == 1, "asked once")
        #expect(requests.pending.first?.lastSent == SendReservation.step / 2)
        #expect(!reservation.mayUse(after: SendReservation.step, spi: id, requesting: &requests), "the grant is the limit")
        reservation.grant(through: 2 * SendReservation.step)
        #expect(reservation.mayUse(after: SendReservation.step, spi: id, requesting: &requests))
        #expect(SendReservation(grantedThrough: nil).mayUse(after: .max - 1, spi: id, requesting: &requests))
    }

    @Test("a request the engine could not hand on is asked again by the next packet")
    func undeliveredRequestIsAskedAgain() throws {
        var requests = SequenceReservationRequests()
        let reservation = SendReservation(grantedThrough: 100)
        let id = try #require(SecurityParameterIndex(rawValue: 9))
        #expect(reservation.mayUse(after: 10, spi: id, requesting: &requests))
        requests.drain { _ in false }
        #expect(requests.pending.isEmpty)
        #expect(reservation.mayUse(after: 11, spi: id, requesting: &requests))
        #expect(requests.pending.count == 1, "asked again after the failed hand-on")
        var delivered = 0
        requests.drain { _ in delivered += 1; return true }
        #expect(reservation.mayUse(after: 12, spi: id, requesting: &requests))
        #expect(requests.pending.isEmpty && delivered == 1, "delivered: not asked again until the grant moves")
    }
}
