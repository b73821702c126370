/**
 * The client package carries its own copy of the API's user states (it depends on nothing of
 * the service): the copy is the service's list, in the service's order.
 */
import { USER_STATUS_NAMES } from 'zoom-token-vault-client';
import { USER_STATES } from '../../functions/domain/token-record';

test("the client's user states are the service's", () => {
  // Assess
  expect(USER_STATUS_NAMES).toEqual(USER_STATES);
});
