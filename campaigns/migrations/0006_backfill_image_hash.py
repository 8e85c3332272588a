"""Hash the images of creatives stored before perceptual hashes existed, so that near-duplicates of
images already rejected are recognised too. A missing or unreadable file leaves the hash empty."""

from django.db import migrations


def backfill(apps, schema_editor):
    from django.core.files.storage import default_storage

    from campaigns.imagehash import dhash

    Creative = apps.get_model("campaigns", "Creative")
    for creative in Creative.objects.filter(image_hash="").exclude(image="").only("id", "image").iterator():
        try:
            with default_storage.open(creative.image.name) as file:
                digest = dhash(file)
        except OSError:
            continue
        if digest:
            Creative.objects.filter(pk=creative.pk).update(image_hash=digest)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0005_policy_checks")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
