/** The replay guard on DynamoDB: a conditional put per signed request, with a TTL (shared/slack/replay.ts says why). */
import { ConditionalCheckFailedException, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { REPLAY_EXPIRY_ATTRIBUTE, REPLAY_KEY_ATTRIBUTE, type ReplayGuard } from '../slack/replay.js';

export function dynamoDbReplayGuard(client: DynamoDBClient, tableName: string): ReplayGuard {
  return {
    async firstUse({ timestamp, signature }, expiresAt) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              [REPLAY_KEY_ATTRIBUTE]: { S: `${timestamp}:${signature}` },
              [REPLAY_EXPIRY_ATTRIBUTE]: { N: String(expiresAt) },
            },
            ConditionExpression: 'attribute_not_exists(#key)',
            ExpressionAttributeNames: { '#key': REPLAY_KEY_ATTRIBUTE },
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },
  };
}
