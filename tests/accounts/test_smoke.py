from accounts.models import Advertiser


def test_tenants_fixture_builds(tenants):
    assert Advertiser.objects.for_user(tenants.owner).get() == tenants.advertiser
    assert Advertiser.objects.for_user(tenants.outsider).get() == tenants.other_advertiser
